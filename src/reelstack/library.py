"""The caller's library: list (newest first, by the ByOwner index, never a scan), edit, delete."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from reelstack import aws
from reelstack.bodies import AssetChanges, read_json
from reelstack.errors import InvalidInput, NotFound
from reelstack.store import assets
from reelstack.store.events import EventType, publish
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix, delete_source_versions
from reelstack.store.records import AssetModel, UploadModel, conditional, owned_record, utc_now
from reelstack.store.states import AssetStatus, UploadStatus
from reelstack.store.views import PlaybackUrl, asset_view
from reelstack.uploads.service import Uploads

log = logging.getLogger(__name__)
DEFAULT_PAGE = 20
MAX_PAGE = 100


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(owner_id: str, cursor: str) -> dict[str, Any]:
    try:
        key = read_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), "the cursor")
    except (InvalidInput, binascii.Error) as error:
        raise InvalidInput("the cursor is not one this API gave out", code="InvalidCursor") from error
    owner = key.get("ownerId") if isinstance(key, dict) else None
    if not isinstance(owner, dict) or owner.get("S") != owner_id:
        raise InvalidInput("the cursor is not one this API gave out to you", code="InvalidCursor")
    return key


def list_assets(
    owner_id: str, limit: str | None = None, cursor: str | None = None, playback: PlaybackUrl | None = None
) -> dict[str, Any]:
    try:
        page_size = int(limit) if limit is not None else DEFAULT_PAGE
    except ValueError as error:
        raise InvalidInput(f"limit must be a number from 1 to {MAX_PAGE}", code="InvalidLimit") from error
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidInput(f"limit must be a number from 1 to {MAX_PAGE}", code="InvalidLimit")
    results = AssetModel.by_owner.query(
        owner_id,
        scan_index_forward=False,  # newest first: ids and createdAt both sort by time
        filter_condition=AssetModel.status != AssetStatus.DELETED,
        limit=page_size,
        last_evaluated_key=_decode_cursor(owner_id, cursor) if cursor else None,
        page_size=page_size,
    )
    items = [asset_view(asset, playback) for asset in results]
    last = results.last_evaluated_key
    return {"items": items, "nextCursor": _encode_cursor(last) if last else None}


def get_asset(owner_id: str, asset_id: str, playback: PlaybackUrl | None = None) -> dict[str, Any]:
    return asset_view(assets.owned_asset(owner_id, asset_id), playback)


def update_asset(
    owner_id: str, asset_id: str, changes: AssetChanges, playback: PlaybackUrl | None = None
) -> dict[str, Any]:
    fields = changes.model_dump(exclude_unset=True, by_alias=False)
    asset = assets.owned_asset(owner_id, asset_id)
    actions = [getattr(AssetModel, name).set(value) for name, value in fields.items()]
    updated = conditional(
        lambda: asset.update(
            actions=[*actions, AssetModel.updated_at.set(utc_now())],
            condition=AssetModel.status != AssetStatus.DELETED,
        ),
        "the asset",
    )
    if not updated:  # deleted since it was read
        raise NotFound(f"nothing called {asset_id!r} here", code="AssetNotFound")
    publish(EventType.ASSET_UPDATED, asset_id, owner_id, changes=fields)
    return asset_view(asset, playback)  # update() has loaded the new values (ALL_NEW) into ``asset``


def delete_asset(owner_id: str, asset_id: str) -> None:
    """The asset becomes a tombstone (``deleted``); every object it owns, in both buckets, goes.

    Idempotent for its owner: a phone that lost the answer (or an API Gateway timeout that cut the
    first call short) asks again, gets 204 again, and the clean-up runs again, so nothing is left
    behind by a delete that died half-way. Others still get 404."""
    asset = owned_record(AssetModel, owner_id, asset_id, "AssetNotFound")
    announce = assets.move(asset_id, AssetStatus.DELETED)
    if asset.execution_arn:
        try:  # a running pipeline must not write renditions after the deletion
            aws.client("stepfunctions").stop_execution(executionArn=asset.execution_arn, cause="asset deleted")
        except ClientError as error:
            log.info("execution of %s not stopped: %s", asset_id, error)
    if asset.upload_id and UploadModel.get(asset.upload_id).status == UploadStatus.UPLOADING:
        Uploads().abort(owner_id, asset.upload_id)  # frees the parts of an upload still open
    removed = delete_prefix(MediaKeys(asset_id).prefix) + delete_source_versions(owner_id, asset_id)
    log.info("asset %s deleted with %d objects", asset_id, removed)
    if announce:
        publish(EventType.ASSET_DELETED, asset_id, owner_id)
