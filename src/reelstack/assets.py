"""Assets as clients see them (the contract's shape), and finding records that belong to the caller."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from reelstack.errors import NotFound
from reelstack.keys import is_id
from reelstack.models import AssetModel
from reelstack.states import AssetStatus, Visibility


def owned_record[M: Model](model: type[M], owner_id: str, record_id: str, not_found_code: str) -> M:
    """The caller's record; someone else's or a malformed id is :class:`NotFound` alike (never 403)."""
    record = None
    if is_id(record_id):
        try:
            record = model.get(record_id, consistent_read=True)
        except DoesNotExist:
            record = None
    if record is None or getattr(record, "owner_id", None) != owner_id:
        raise NotFound(f"nothing called {record_id[:64]!r} here", code=not_found_code)
    return record


def owned_asset(owner_id: str, asset_id: str) -> AssetModel:
    """The caller's asset; a deleted one is not found either."""
    asset = owned_record(AssetModel, owner_id, asset_id, "AssetNotFound")
    if asset.status == AssetStatus.DELETED:
        raise NotFound(f"nothing called {asset_id!r} here", code="AssetNotFound")
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
