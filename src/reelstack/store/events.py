"""The event schema on the SNS topic (the one place that writes it): ``{type, assetId, ownerId,
occurredAt, ...}`` with the message attribute ``type`` so that subscribers can filter."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from reelstack import aws
from reelstack.config import deployment
from reelstack.store.records import utc_now


class EventType(StrEnum):
    UPLOAD_COMPLETED = "upload.completed"
    UPLOAD_REJECTED = "upload.rejected"  # an object in the upload bucket that no upload declared
    ASSET_PROCESSING = "asset.processing"
    ASSET_PLAYABLE = "asset.playable"  # once, before asset.ready: a player can start, the playlists still grow
    ASSET_READY = "asset.ready"
    ASSET_FAILED = "asset.failed"
    ASSET_UPDATED = "asset.updated"
    ASSET_DELETED = "asset.deleted"


def event_document(event_type: EventType, asset_id: str | None, owner_id: str | None, **fields: Any) -> dict[str, Any]:
    return {"type": str(event_type), "assetId": asset_id, "ownerId": owner_id, "occurredAt": utc_now(), **fields}


def publish(event_type: EventType, asset_id: str | None, owner_id: str | None, **fields: Any) -> dict[str, Any]:
    document = event_document(event_type, asset_id, owner_id, **fields)
    aws.client("sns").publish(
        TopicArn=deployment().events_topic_arn,
        Message=json.dumps(document, default=str),
        MessageAttributes={"type": {"DataType": "String", "StringValue": str(event_type)}},
    )
    return document
