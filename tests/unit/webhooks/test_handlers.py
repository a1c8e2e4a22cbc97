"""The three new functions, driven with their sample events (events/<function>/)."""

from __future__ import annotations

import json
from collections.abc import Callable

from reelstack.bodies import CreateWebhook
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.records import AssetModel, DeliveryModel, OutboxModel
from reelstack.store.states import AssetStatus
from reelstack.webhooks import endpoints
from tests.unit.conftest import Cloud, load_event, load_handler
from tests.unit.webhooks.conftest import Receiver


def test_the_fanout_function_starts_a_delivery_per_endpoint(cloud: Cloud, receiver: Callable[..., Receiver]) -> None:
    made = endpoints.create("alice", CreateWebhook(url=receiver().url))
    event = load_event("webhook_fanout/asset-ready.json")
    assert load_handler("webhook_fanout")(event, None) == {"batchItemFailures": []}
    (delivery,) = DeliveryModel.scan()
    assert (delivery.webhook_id, delivery.event_id) == (made["webhookId"], "01keeeeeeeeeeeeeeeeeeeeeee")
    assert delivery.payload == event["Records"][0]["body"]
    event["Records"][0]["body"] = "not json"
    assert load_handler("webhook_fanout")(event, None) == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
    }


def test_the_deliver_function_makes_the_attempt_its_message_names(
    cloud: Cloud, receiver: Callable[..., Receiver]
) -> None:
    hook = receiver()
    endpoints.create("alice", CreateWebhook(url=hook.url))
    fanout = load_event("webhook_fanout/asset-ready.json")
    load_handler("webhook_fanout")(fanout, None)
    (queued,) = cloud.queued()
    event = load_event("webhook_deliver/first-attempt.json")
    event["Records"][0]["body"] = json.dumps(queued)
    assert load_handler("webhook_deliver")(event, None) == {"batchItemFailures": []}
    assert DeliveryModel.get(queued["deliveryId"]).status == "delivered" and len(hook.received) == 1
    # The sample's own message names a delivery that does not exist: nothing to do, nothing to retry.
    assert load_handler("webhook_deliver")(load_event("webhook_deliver/first-attempt.json"), None) == {
        "batchItemFailures": []
    }


def test_the_sweeper_function_publishes_what_a_crash_left(cloud: Cloud, setenv: Callable[..., None]) -> None:
    AssetModel("01kbbbbbbbbbbbbbbbbbbbbbbb", owner_id="alice", status=AssetStatus.PROCESSING).save()
    failed = events.event(EventType.ASSET_FAILED, "01kbbbbbbbbbbbbbbbbbbbbbbb", "alice")
    assert assets.move("01kbbbbbbbbbbbbbbbbbbbbbbb", AssetStatus.FAILED, announcing=failed)  # and then died
    schedule = load_event("outbox_sweeper/every-minute.json")
    assert load_handler("outbox_sweeper")(schedule, None) == {"published": []}  # within the grace
    assert load_handler("outbox_sweeper")({**schedule, "olderThanSeconds": 0}, None) == {"published": [failed.event_id]}
    assert [doc["eventId"] for doc in cloud.published()] == [failed.event_id]
    assert list(OutboxModel.scan()) == []
