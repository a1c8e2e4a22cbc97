"""The caller's library: list (newest first, by the ByOwner index, never a scan), read (theirs, or anyone's
shared asset), edit (visibility too: reelstack.sharing), delete."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from reelstack import aws, sharing
from reelstack.bodies import AssetChanges
from reelstack.errors import Conflict
from reelstack.paging import decode_cursor, encode_cursor, page_size
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix, delete_source_versions
from reelstack.store.records import AssetModel, Change, UploadModel, owned_record, utc_now
from reelstack.store.states import AssetStatus, UploadStatus, Visibility
from reelstack.store.views import PlaybackUrl, asset_view
from reelstack.uploads.service import Uploads

log = logging.getLogger(__name__)


def _owners_cursor(owner_id: str) -> Callable[[Any], bool]:
    return lambda key: isinstance(key, dict) and key.get("ownerId") == {"S": owner_id}


def list_assets(
    owner_id: str, limit: str | None = None, cursor: str | None = None, playback: PlaybackUrl | None = None
) -> dict[str, Any]:
    wanted = page_size(limit)
    results = AssetModel.by_owner.query(
        owner_id,
        scan_index_forward=False,  # newest first: ids and createdAt both sort by time
        filter_condition=AssetModel.status != AssetStatus.DELETED,
        limit=wanted,
        last_evaluated_key=decode_cursor(cursor, _owners_cursor(owner_id)) if cursor else None,
        page_size=wanted,
    )
    items = [asset_view(asset, playback) for asset in results]
    last = results.last_evaluated_key
    return {"items": items, "nextCursor": encode_cursor(last) if last else None}


def get_asset(caller: str, asset_id: str, api_base: str, playback: PlaybackUrl | None = None) -> dict[str, Any]:
    """The caller's own asset in full; anyone's shared asset in its public view."""
    asset = sharing.visible_asset(caller, asset_id)
    return asset_view(asset, playback) if asset.owner_id == caller else sharing.shared_view(asset, playback, api_base)


def update_asset(
    owner_id: str, asset_id: str, changes: AssetChanges, playback: PlaybackUrl | None = None
) -> dict[str, Any]:
    fields = changes.model_dump(exclude_unset=True, by_alias=False)
    edits = [getattr(AssetModel, name).set(value) for name, value in fields.items() if name != "visibility"]
    for _ in range(3):
        asset = assets.owned_asset(owner_id, asset_id)
        before = asset.visibility or Visibility.PRIVATE
        actions = [*edits, AssetModel.updated_at.set(utc_now())]
        condition = AssetModel.status != AssetStatus.DELETED
        if "visibility" in fields:
            # The switch is decided from what was read: it applies only if nobody switched it since.
            actions += sharing.visibility_actions(asset, fields["visibility"])
            condition &= sharing.visibility_is(before)
        visibility = fields.get("visibility") or before
        updated = events.event(
            EventType.ASSET_UPDATED,
            asset_id,
            owner_id,
            changes=changes.model_dump(exclude_unset=True, by_alias=True),
            visibility=visibility,
            **({"previousVisibility": before} if visibility != before else {}),
        )
        if events.record(updated, Change(asset, actions, condition), "the asset"):
            break
        # Deleted since it was read (the next read says so), or switched by another call: read again.
    else:
        raise Conflict("the asset kept changing while this update was made; send it again", code="AssetBusy")
    if fields.get("visibility") == Visibility.PUBLIC:
        sharing.list_in_feed(asset_id)  # ready already: in the feed now (not yet: the pipeline lists it)
    events.publish(updated)
    asset.refresh(consistent_read=True)
    return asset_view(asset, playback)


def delete_asset(owner_id: str, asset_id: str) -> None:
    """The asset becomes a tombstone (``deleted``); every object it owns, in both buckets, goes.

    Idempotent for its owner: a phone that lost the answer (or an API Gateway timeout that cut the
    first call short) asks again, gets 204 again, and the clean-up runs again, so nothing is left
    behind by a delete that died half-way. Others still get 404."""
    asset = owned_record(AssetModel, owner_id, asset_id, "AssetNotFound")
    deleted = events.event(EventType.ASSET_DELETED, asset_id, owner_id)
    announce = assets.move(asset_id, AssetStatus.DELETED, announcing=deleted)
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
        events.publish(deleted)
