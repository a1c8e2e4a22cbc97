"""The outbox: an event is recorded in the same transaction as its change, published after, and swept
if the function died in between, with the same eventId."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reelstack.errors import InjectedFault
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.records import AssetModel, Change, OutboxModel
from reelstack.store.states import AssetStatus
from tests.unit.conftest import Cloud

ASSET = "01kbbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture
def asset(cloud: Cloud) -> AssetModel:
    record = AssetModel(ASSET, owner_id="alice", status=AssetStatus.PROCESSING, created_at="2026-12-01T00:00:00.000Z")
    record.save()
    return record


def test_a_move_and_its_event_are_written_together_then_published_with_an_event_id(
    cloud: Cloud, asset: AssetModel
) -> None:
    ready = events.event(EventType.ASSET_READY, ASSET, "alice", renditions=[])
    assert assets.move(ASSET, AssetStatus.READY, announcing=ready)
    assert AssetModel.get(ASSET).status == AssetStatus.READY
    assert [item.event_id for item in OutboxModel.scan()] == [ready.event_id]  # recorded, not yet published
    events.publish(ready)
    assert list(OutboxModel.scan()) == []
    (published,) = cloud.published()
    assert published == {"eventId": ready.event_id, "type": "asset.ready", "assetId": ASSET, "ownerId": "alice",
                         "occurredAt": ready.occurred_at, "renditions": []}  # fmt: skip


def test_a_move_that_does_not_apply_records_no_event(cloud: Cloud, asset: AssetModel) -> None:
    deleted = events.event(EventType.ASSET_DELETED, ASSET, "alice")
    assert assets.move(ASSET, AssetStatus.DELETED, announcing=deleted)
    again = events.event(EventType.ASSET_DELETED, ASSET, "alice")
    assert not assets.move(ASSET, AssetStatus.DELETED, announcing=again)  # a repeat: nothing to announce
    assert [item.event_id for item in OutboxModel.scan()] == [deleted.event_id]
    updated = events.event(EventType.ASSET_UPDATED, ASSET, "alice")
    change = Change(AssetModel(ASSET), [AssetModel.title.set("x")], AssetModel.status == AssetStatus.READY)
    assert not events.announce(updated, change)
    assert AssetModel.get(ASSET).title is None and updated.event_id not in {i.event_id for i in OutboxModel.scan()}
    assert cloud.published() == []


def test_a_function_that_dies_between_write_and_publish_loses_nothing(
    cloud: Cloud, asset: AssetModel, setenv: Callable[..., None]
) -> None:
    setenv(FAULT_INJECTION="crash:asset.ready", OUTBOX_GRACE_SECONDS="60")
    ready = events.event(EventType.ASSET_READY, ASSET, "alice")
    assert assets.move(ASSET, AssetStatus.READY, announcing=ready)
    with pytest.raises(InjectedFault):
        events.publish(ready)
    assert cloud.published() == []
    assert events.sweep() == []  # still within the writer's grace: it may yet publish
    assert events.sweep(older_than_seconds=0) == [ready.event_id]
    assert [(doc["type"], doc["eventId"]) for doc in cloud.published()] == [("asset.ready", ready.event_id)]
    assert list(OutboxModel.scan()) == [] and events.sweep(0) == []
    # Once per asset: the next event of the same type goes straight out.
    late = events.event(EventType.ASSET_READY, ASSET, "alice")
    events.announce(late)
    assert [doc["eventId"] for doc in cloud.published()] == [late.event_id]


def test_an_event_without_a_change_is_recorded_alone(cloud: Cloud) -> None:
    rejected = events.event(EventType.UPLOAD_REJECTED, None, None, key="sources/x")
    assert events.announce(rejected)
    assert [doc["eventId"] for doc in cloud.published()] == [rejected.event_id]
    assert list(OutboxModel.scan()) == []
