"""The events (the one place that writes their schema and publishes them) and their outbox.

An event is ``{eventId, type, assetId, ownerId, occurredAt, ...}`` on the SNS topic, with the
message attribute ``type`` so that subscribers can filter; webhook endpoints get the same document
as their body.

Nothing is lost between a change and its announcement: the write that changes a record also puts
the event in the outbox table, in one DynamoDB transaction (``record``, or ``store.assets.move``
with ``announcing=``). ``publish`` then puts it on the topic and deletes it from the outbox. A
function that dies between the two leaves it there, and the sweeper (``sweep``, every minute)
publishes it later with the same ``eventId``. Delivery is at least once: a consumer drops an
``eventId`` it has seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from reelstack import aws
from reelstack.config import deployment
from reelstack.errors import InjectedFault
from reelstack.ids import new_id
from reelstack.store import assets
from reelstack.store.records import Change, OutboxModel, commit, iso, utc_now


class EventType(StrEnum):
    UPLOAD_COMPLETED = "upload.completed"
    UPLOAD_REJECTED = "upload.rejected"  # an object in the upload bucket that no upload declared
    ASSET_PROCESSING = "asset.processing"
    ASSET_PLAYABLE = "asset.playable"  # once, before asset.ready: a player can start, the playlists still grow
    ASSET_READY = "asset.ready"
    ASSET_FAILED = "asset.failed"
    ASSET_UPDATED = "asset.updated"
    ASSET_DELETED = "asset.deleted"
    ASSET_TRACK_READY = "asset.track.ready"  # a caption or subtitle track can play (reelstack.derivatives.captions)
    ASSET_TRACK_FAILED = "asset.track.failed"  # ... or could not be read: its error says why
    WEBHOOK_DISABLED = "webhook.disabled"  # an endpoint failed every delivery too long (reelstack.webhooks)
    WEBHOOK_TEST = "webhook.test"  # POST /webhooks/{id}/test: to that endpoint only, never on the topic


@dataclass(frozen=True)
class Event:
    type: EventType
    asset_id: str | None
    owner_id: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=new_id)
    occurred_at: str = field(default_factory=utc_now)

    def document(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "type": str(self.type),
            "assetId": self.asset_id,
            "ownerId": self.owner_id,
            "occurredAt": self.occurred_at,
            **self.fields,
        }

    def message(self) -> str:
        return json.dumps(self.document(), default=str, separators=(",", ":"))

    def outbox_item(self) -> OutboxModel:
        return OutboxModel(self.event_id, type=str(self.type), document=self.message(), recorded_at=utc_now())


def event(event_type: EventType, asset_id: str | None, owner_id: str | None, **fields: Any) -> Event:
    return Event(event_type, asset_id, owner_id, fields)


def record(announced: Event, change: Change | None = None, what: str = "the record") -> bool:
    """Commit ``change`` with the event in the outbox (one transaction), or the event alone; False
    if the change's condition did not hold (then neither was written, and nothing is to announce)."""
    if change is None:
        announced.outbox_item().save()
        return True
    carried = Change(change.record, change.actions, change.condition, (*change.also, announced.outbox_item()))
    return commit(carried, what)


def publish(recorded: Event) -> dict[str, Any]:
    """Put a recorded event on the topic, then take it out of the outbox."""
    _crash_if_due(recorded)
    _send(recorded.message(), str(recorded.type))
    OutboxModel(recorded.event_id).delete()
    return recorded.document()


def announce(announced: Event, change: Change | None = None, what: str = "the record") -> bool:
    """``record`` then ``publish``: the change and its event, or neither."""
    if not record(announced, change, what):
        return False
    publish(announced)
    return True


def sweep(older_than_seconds: float | None = None) -> list[str]:
    """Publish every event left in the outbox longer than OutboxGraceSeconds (a function died after
    its write): the ids published. One that its writer publishes meanwhile goes out twice, with
    one eventId."""
    grace = deployment().outbox_grace_seconds if older_than_seconds is None else older_than_seconds
    cutoff = iso(datetime.now(UTC) - timedelta(seconds=grace))
    swept = []
    for item in OutboxModel.scan(OutboxModel.recorded_at <= cutoff, consistent_read=True):
        _send(item.document, item.type)
        item.delete()
        swept.append(item.event_id)
    return swept


def _send(message: str, event_type: str) -> None:
    aws.client("sns").publish(
        TopicArn=deployment().events_topic_arn,
        Message=message,
        MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
    )


def _crash_if_due(recorded: Event) -> None:
    """FAULT_INJECTION ``crash:<type>`` (``crash:asset.ready``): the function dies after the write
    and before the publish, once per asset, leaving the event to the outbox's sweeper."""
    fault = f"crash:{recorded.type}"
    if recorded.asset_id and fault in deployment().faults.names and assets.strike_once(recorded.asset_id, fault):
        raise InjectedFault(f"fault injected between the write and the publish of {recorded.type} (FAULT_INJECTION)")
