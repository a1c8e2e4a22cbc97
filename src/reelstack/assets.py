"""Assets as clients see them (the contract's shape), and finding one that belongs to the caller."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist

from reelstack.errors import NotFound
from reelstack.keys import is_id
from reelstack.models import AssetModel
from reelstack.states import AssetStatus, Visibility


def owned_asset(owner_id: str, asset_id: str) -> AssetModel:
    """The caller's asset; someone else's, a deleted one or a malformed id is :class:`NotFound` alike."""
    if not is_id(asset_id):
        raise NotFound(f"no asset {asset_id[:64]!r}", code="AssetNotFound")
    try:
        asset = AssetModel.get(asset_id, consistent_read=True)
    except DoesNotExist:
        asset = None
    if asset is None or asset.owner_id != owner_id or asset.status == AssetStatus.DELETED:
        raise NotFound(f"no asset {asset_id!r}", code="AssetNotFound")
    return asset


def asset_view(asset: AssetModel) -> dict[str, Any]:
    view: dict[str, Any] = {
        "assetId": asset.asset_id,
        "ownerId": asset.owner_id,
        "status": asset.status,
        "title": asset.title or "",
        "description": asset.description or "",
        "tags": list(asset.tags or []),
        "visibility": asset.visibility or Visibility.PRIVATE,
        "createdAt": asset.created_at,
        "updatedAt": asset.updated_at,
    }
    if asset.source:
        view["source"] = {
            "filename": asset.source.filename,
            "size": int(asset.source.size),
            "contentType": asset.source.content_type,
            **({"sha256": asset.source.sha256} if asset.source.sha256 else {}),
        }
    if asset.error:
        view["error"] = {"code": asset.error.code, "message": asset.error.message}
    return view
