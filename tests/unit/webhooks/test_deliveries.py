"""Deliveries: the fan-out to an owner's endpoints, one attempt per message, the retry schedule, the
failed end, disabling an endpoint that keeps failing, and the owner's listing and retry. Receivers
listen on loopback (ALLOW_LOOPBACK_URLS=on in ``cloud``); clocks are passed in."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from reelstack import aws, netguard
from reelstack.bodies import CreateWebhook
from reelstack.config import Deployment
from reelstack.store.events import EventType, event
from reelstack.store.records import DeliveryModel, WebhookModel
from reelstack.webhooks import deliveries, endpoints
from reelstack_cli.settings import TEMPLATE
from reelstack_cli.template import load_template
from tests.unit.conftest import Cloud, call
from tests.unit.webhooks.conftest import Receiver

NOW = 1_795_330_800.0


@pytest.fixture(autouse=True)
def delays(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The DelaySeconds of every attempt queued; the tests' clocks are their own, so moto gets 0."""
    sent: list[int] = []
    sqs = aws.client("sqs")
    send = sqs.send_message

    def recorded(**message: Any) -> Any:
        sent.append(message["DelaySeconds"])
        return send(**{**message, "DelaySeconds": 0})

    monkeypatch.setattr(sqs, "send_message", recorded)
    return sent


def register(owner: str, url: str, **fields: Any) -> dict[str, Any]:
    return endpoints.create(owner, CreateWebhook(url=url, **fields))


def published(owner: str = "alice", kind: EventType = EventType.ASSET_READY) -> str:
    return event(kind, "01kbbbbbbbbbbbbbbbbbbbbbbb", owner).message()


def run_queue(cloud: Cloud, clock: float) -> list[str]:
    """Every queued attempt, run at ``clock`` (as if its delay were over)."""
    return [deliveries.attempt(message, lambda: clock) for message in cloud.queued()]


def test_waits_past_sqs_longest_delay_go_round_again(delays: list[int]) -> None:
    deliveries.attempt({"deliveryId": "01kddddddddddddddddddddddd", "attempt": 3, "notBefore": NOW + 7200},
                       lambda: NOW)  # fmt: skip
    assert delays == [900]


def test_the_default_schedule_retries_for_more_than_a_day() -> None:
    declared = load_template(TEMPLATE)["Parameters"]["WebhookRetrySchedule"]["Default"]
    schedule = tuple(float(part) for part in declared.split(","))
    assert schedule == Deployment().webhooks.retry_schedule
    assert sum(schedule) >= 24 * 3600
    assert [deliveries.next_delay(n, schedule) for n in (1, 2, 7, 8)] == [5, 300, 36000, None]


def test_an_event_goes_to_each_of_its_owners_endpoints_that_want_it_once(
    cloud: Cloud, receiver: Callable[..., Receiver]
) -> None:
    everything, ready_only, playable_only, mallorys = receiver(), receiver(), receiver(), receiver()
    register("alice", everything.url)
    register("alice", ready_only.url, events=["asset.ready"])
    register("alice", playable_only.url, events=["asset.playable"])
    register("mallory", mallorys.url)
    off = register("alice", receiver().url)
    WebhookModel(off["webhookId"]).update(actions=[WebhookModel.enabled.set(False)])
    message = published("alice")
    first = deliveries.fan_out(message, lambda: NOW)
    assert len(first) == 2
    # Published twice (or the fan-out ran again after dying): the same deliveries, their first
    # attempts queued again as none was made yet; the second message of each finds it made.
    assert sorted(deliveries.fan_out(message, lambda: NOW)) == sorted(first)
    assert DeliveryModel.count() == 2
    assert sorted(run_queue(cloud, NOW)) == ["delivered", "delivered", "stale", "stale"]
    assert deliveries.fan_out(message, lambda: NOW) == []  # made: nothing is queued again
    assert [len(r.received) for r in (everything, ready_only, playable_only, mallorys)] == [1, 1, 0, 0]
    headers, body = everything.received[0]
    assert body == message.encode()  # byte for byte as published
    assert headers["webhook-id"] == json.loads(message)["eventId"]
    assert deliveries.fan_out(published(None), lambda: NOW) == []  # nobody's event goes nowhere


def test_a_delivery_is_signed_and_its_attempt_listed(cloud: Cloud, receiver: Callable[..., Receiver]) -> None:
    hook = receiver(200, body=b"y" * 5000)
    made = register("alice", hook.url)
    deliveries.fan_out(published(), lambda: NOW)
    assert run_queue(cloud, time.time()) == ["delivered"]
    headers, body = hook.received[0]
    assert Webhook(made["secret"]).verify(body, headers)["type"] == "asset.ready"
    _, page = call("list-webhook-deliveries", webhook_id=made["webhookId"])
    (listed,) = page["items"]
    assert (listed["status"], listed["attemptCount"], listed["lastResponseStatus"]) == ("delivered", 1, 200)
    assert listed["attempts"][0]["responseBody"] == "y" * 1024  # the first KiB, no more
    assert listed["attempts"][0]["latencyMs"] >= 0 and "nextAttemptAt" not in listed


def test_failures_are_retried_on_the_schedule_then_the_delivery_fails(
    cloud: Cloud, receiver: Callable[..., Receiver], setenv: Callable[..., None], delays: list[int]
) -> None:
    setenv(WEBHOOK_RETRY_SCHEDULE="5,300")
    hook = receiver(500)
    made = register("alice", hook.url)
    deliveries.fan_out(published(), lambda: NOW)
    (first,) = cloud.queued()
    assert (first["attempt"], first["notBefore"]) == (1, NOW)
    assert deliveries.attempt(first, lambda: NOW) == "pending"
    (second,) = cloud.queued()
    assert (second["attempt"], second["notBefore"]) == (2, NOW + 5)
    assert deliveries.attempt(second, lambda: NOW + 1) == "waiting"  # back early: round again
    (second,) = cloud.queued()
    assert deliveries.attempt(second, lambda: NOW + 5) == "pending"
    (third,) = cloud.queued()
    assert third["notBefore"] == NOW + 305
    assert deliveries.attempt(third, lambda: NOW + 305) == "failed"
    assert cloud.queued() == []
    assert delays == [0, 5, 4, 300]
    assert deliveries.attempt(third, lambda: NOW + 305) == "stale"  # SQS handed it out twice: nothing happens
    assert len(hook.received) == 3
    assert len({headers["webhook-id"] for headers, _ in hook.received}) == 1
    (delivery,) = call("list-webhook-deliveries", webhook_id=made["webhookId"])[1]["items"]
    assert [a["responseStatus"] for a in delivery["attempts"]] == [500, 500, 500]
    assert delivery["status"] == "failed" and delivery["lastResponseBody"] == "ok"

    # By hand: again now, with a fresh schedule; the receiver is fixed.
    hook.statuses = [200]
    status, retried = call("retry-webhook-delivery", webhook_id=made["webhookId"], delivery_id=delivery["deliveryId"])
    assert (status, retried["status"]) == (202, "pending")
    assert run_queue(cloud, time.time() + 1) == ["delivered"]
    assert DeliveryModel.get(delivery["deliveryId"]).attempt_count == 4


def test_an_endpoint_failing_every_delivery_too_long_is_disabled_and_its_owner_told(
    cloud: Cloud, receiver: Callable[..., Receiver], setenv: Callable[..., None]
) -> None:
    setenv(WEBHOOK_DISABLE_AFTER_SECONDS=str(5 * 86400), WEBHOOK_RETRY_SCHEDULE="86400,86400,86400,86400,86400,86400")
    hook, other = receiver(503), receiver(200)
    made = register("alice", hook.url)
    register("alice", other.url, events=["webhook.disabled"])
    deliveries.fan_out(published(), lambda: NOW)
    outcomes = [deliveries.attempt(message, lambda day=day: NOW + day * 86400)
                for day in range(6) for message in cloud.queued()]  # fmt: skip
    assert outcomes == ["pending"] * 5 + ["failed"]  # the sixth, 5 days after the first failure, disables
    endpoint = WebhookModel.get(made["webhookId"])
    assert endpoint.enabled is False and endpoint.disabled_reason == "every delivery failed for 5.0 days"
    (told,) = [doc for doc in cloud.published() if doc["type"] == "webhook.disabled"]
    assert (told["ownerId"], told["webhookId"], told["assetId"]) == ("alice", made["webhookId"], None)
    # The owner's other endpoint gets it too, from the topic; a new event skips the disabled one.
    assert deliveries.fan_out(json.dumps(told), lambda: NOW) != []
    assert deliveries.fan_out(published(), lambda: NOW) == []


def test_a_success_clears_the_failing_record(cloud: Cloud, receiver: Callable[..., Receiver]) -> None:
    hook = receiver(500, 200)
    made = register("alice", hook.url)
    deliveries.fan_out(published(), lambda: NOW)
    run_queue(cloud, NOW)
    assert WebhookModel.get(made["webhookId"]).failing_since is not None
    assert run_queue(cloud, NOW + 5) == ["delivered"]
    assert WebhookModel.get(made["webhookId"]).failing_since is None


def test_a_url_that_now_leads_somewhere_private_is_not_called(
    cloud: Cloud, receiver: Callable[..., Receiver], setenv: Callable[..., None]
) -> None:
    answers = {"hooks.example.com": ["93.184.215.14"]}
    previous = netguard.use_resolver(lambda host, port: answers[host])
    try:
        made = register("alice", "https://hooks.example.com/in")
        answers["hooks.example.com"] = ["169.254.169.254"]  # rebinding: the name now points inside
        deliveries.fan_out(published(), lambda: NOW)
        assert run_queue(cloud, NOW) == ["pending"]
    finally:
        netguard.use_resolver(previous)
    (delivery,) = call("list-webhook-deliveries", webhook_id=made["webhookId"])[1]["items"]
    assert delivery["attempts"][0]["error"].startswith("UnsafeUrl")
    assert "responseStatus" not in delivery["attempts"][0]


def test_pending_deliveries_of_a_deleted_endpoint_end_failed(cloud: Cloud, receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    made = register("alice", hook.url)
    deliveries.fan_out(published(), lambda: NOW)
    endpoints.delete("alice", made["webhookId"])
    assert run_queue(cloud, NOW) == ["failed"] and hook.received == []


def test_the_test_route_queues_a_webhook_test_event(cloud: Cloud, receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    made = register("alice", hook.url, events=["asset.ready"])
    status, queued = call("test-webhook", webhook_id=made["webhookId"])
    assert (status, queued["eventType"], queued["status"]) == (202, "webhook.test", "pending")
    assert run_queue(cloud, datetime.now(UTC).timestamp()) == ["delivered"]
    assert json.loads(hook.received[0][1])["eventId"] == queued["eventId"]
    assert cloud.published() == []  # not on the topic
