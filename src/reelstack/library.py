"""The caller's library: list (newest first, by the ByOwner index, never a scan), edit, delete."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from typing import Any

from botocore.exceptions import ClientError

from reelstack import aws
from reelstack.api_models import AssetChanges, parse_body, read_json
from reelstack.assets import PlaybackUrl, asset_view, move_asset, owned_asset, owned_record
from reelstack.config import deployment
from reelstack.diagram import execution_rows
from reelstack.errors import InvalidInput, NotFound
from reelstack.events import EventType, publish
from reelstack.keys import MediaKeys, SourceKey
from reelstack.models import AssetModel, UploadModel, utc_now
from reelstack.pipeline import delete_prefix
from reelstack.states import AssetStatus, UploadStatus
from reelstack.uploads import Uploads

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


def update_asset(
    owner_id: str, asset_id: str, raw_body: bytes | str | None, playback: PlaybackUrl | None = None
) -> dict[str, Any]:
    changes = parse_body(AssetChanges, raw_body).model_dump(exclude_unset=True, by_alias=False)
    asset = owned_asset(owner_id, asset_id)
    actions = [getattr(AssetModel, name).set(value) for name, value in changes.items()]
    updated = aws.conditional(
        lambda: asset.update(
            actions=[*actions, AssetModel.updated_at.set(utc_now())],
            condition=AssetModel.status != AssetStatus.DELETED,
        ),
        "the asset",
    )
    if not updated:  # deleted since it was read
        raise NotFound(f"nothing called {asset_id!r} here", code="AssetNotFound")
    publish(EventType.ASSET_UPDATED, asset_id, owner_id, changes=changes)
    return asset_view(asset, playback)  # update() has loaded the new values (ALL_NEW) into ``asset``


def delete_asset(owner_id: str, asset_id: str) -> None:
    """The asset becomes a tombstone (``deleted``); every object it owns, in both buckets, goes.

    Idempotent for its owner: a phone that lost the answer (or an API Gateway timeout that cut the
    first call short) asks again, gets 204 again, and the clean-up runs again, so nothing is left
    behind by a delete that died half-way. Others still get 404."""
    asset = owned_record(AssetModel, owner_id, asset_id, "AssetNotFound")
    live = tuple(status for status in AssetStatus if status != AssetStatus.DELETED)
    announce = move_asset(asset_id, AssetStatus.DELETED, from_states=live)
    if asset.execution_arn:
        try:  # a running pipeline must not write renditions after the deletion
            aws.client("stepfunctions").stop_execution(executionArn=asset.execution_arn, cause="asset deleted")
        except ClientError as error:
            log.info("execution of %s not stopped: %s", asset_id, error)
    if asset.upload_id and UploadModel.get(asset.upload_id).status == UploadStatus.UPLOADING:
        Uploads().abort(owner_id, asset.upload_id)  # frees the parts of an upload still open
    removed = delete_prefix(MediaKeys(asset_id).prefix) + _delete_source_versions(owner_id, asset_id)
    log.info("asset %s deleted with %d objects", asset_id, removed)
    if announce:
        publish(EventType.ASSET_DELETED, asset_id, owner_id)


def _delete_source_versions(owner_id: str, asset_id: str) -> int:
    """Every version and delete marker of the asset's source (the upload bucket is versioned)."""
    s3, bucket = aws.client("s3"), deployment().upload_bucket
    prefix = str(SourceKey(owner_id, asset_id, "0" * 26)).rsplit("/", 1)[0] + "/"
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        versions = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if versions:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions, "Quiet": True})
            removed += len(versions)
    return removed


def pipeline_report(owner_id: str, asset_id: str) -> dict[str, Any]:
    """The state machine drawn from its ASL, with this asset's execution on it (outcome and ms per state)."""
    asset = owned_asset(owner_id, asset_id)
    sfn = aws.client("stepfunctions")
    arn = asset.execution_arn
    history: list[dict[str, Any]] = []
    status = "NOT_STARTED"
    machine_arn = os.environ.get("STATE_MACHINE_ARN", "")
    if arn:
        described = sfn.describe_execution(executionArn=arn)
        status, machine_arn = described["status"], described["stateMachineArn"]
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            history += page["events"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine_arn)["definition"])
    return {
        "assetId": asset_id,
        "executionStatus": status,
        "states": [
            {key: value for key, value in row.items() if key != "next"} for row in execution_rows(definition, history)
        ],
    }
