"""Deliveries: each event on the topic, to each of its owner's endpoints that asked for it, signed
(reelstack.webhooks.signing), retried on a schedule for more than a day, listed for the owner.

The pieces are SQS queues and two functions, which scale out with the queues:

- the events queue (subscribed to the topic) -> ``fan_out``: one delivery record per endpoint,
  whose id derives from the endpoint and the event's id (an event published twice is delivered
  once), and its first attempt on the deliveries queue;
- the deliveries queue -> ``attempt``: one POST per message. A 2xx within WebhookTimeoutSeconds is
  delivered; anything else (another status, a refused connection, a redirect, no answer in time,
  a URL that now leads somewhere private) is recorded and the next attempt is sent to the queue with
  a delay (WebhookRetrySchedule; SQS delays a message 15 minutes at most, so a longer wait is a
  message that comes back early and goes round again). Past the last, the delivery is failed.

A message names its attempt: it runs only if the delivery has made exactly the attempts before it,
so a duplicate message, or the message a manual retry overtook, does nothing. A function that dies
mid-attempt leaves its message on the queue, which hands it out again: every attempt happens at
least once, and receivers drop a ``webhook-id`` they have seen (the event's id, the same on every
attempt).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from reelstack import aws, netguard
from reelstack.config import deployment
from reelstack.errors import Conflict, InvalidInput, NotFound
from reelstack.ids import derived_id
from reelstack.paging import decode_cursor, encode_cursor, page_size
from reelstack.store.events import EventType, event
from reelstack.store.keys import is_id
from reelstack.store.records import DeliveryModel, WebhookModel, conditional, iso
from reelstack.webhooks import endpoints, signing

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
RESPONSE_EXCERPT_BYTES = 1024  # what is read of an answer, and kept
MAX_ATTEMPTS_KEPT = 50  # attempts listed per delivery (manual retries can add more; they are counted)
SQS_MAX_DELAY_SECONDS = 900
RETENTION_DAYS = 30
Clock = Callable[[], float]


def next_delay(attempt_in_schedule: int, schedule: tuple[float, ...]) -> float | None:
    """Seconds to wait after failed attempt ``attempt_in_schedule`` (1: the first) before the next;
    None when the schedule is over (the delivery has failed)."""
    return schedule[attempt_in_schedule - 1] if attempt_in_schedule - 1 < len(schedule) else None


# -- fan-out -------------------------------------------------------------------------------------


def fan_out(message: str, clock: Clock = time.time) -> list[str]:
    """An event as published (its JSON, byte for byte the body every attempt sends) -> a delivery for
    each of its owner's endpoints that take its type; the ids of deliveries queued now."""
    document = json.loads(message)
    owner_id, event_id, event_type = document.get("ownerId"), document.get("eventId"), document.get("type")
    if not (owner_id and event_id and event_type):
        return []  # nobody's (an object no upload declared), or from before events had ids
    return [
        delivery.delivery_id
        for endpoint in endpoints.subscribers(owner_id, event_type)
        if (delivery := _start(endpoint, event_id, event_type, message, clock)) is not None
    ]


def send_test(owner_id: str, webhook_id: str, clock: Clock = time.time) -> dict[str, Any]:
    """``webhook.test`` to this endpoint only (not on the topic), delivered as any event is."""
    endpoint = endpoints.owned(owner_id, webhook_id)
    test = event(EventType.WEBHOOK_TEST, None, owner_id, webhookId=webhook_id)
    delivery = _start(endpoint, test.event_id, str(test.type), test.message(), clock)
    assert delivery is not None  # a new event id: a new delivery
    return view(delivery)


def _start(endpoint: WebhookModel, event_id: str, event_type: str, payload: str, clock: Clock) -> DeliveryModel | None:
    """The delivery's record and its first attempt on the queue. A repeat (the event published
    twice, or this function run again after dying here) queues the first attempt again only if it
    has not been made."""
    now = clock()
    delivery = DeliveryModel(
        derived_id("delivery", endpoint.webhook_id, event_id),
        webhook_id=endpoint.webhook_id,
        owner_id=endpoint.owner_id,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        status=PENDING,
        attempt_count=0,
        schedule_base=0,
        attempts=[],
        next_attempt_at=_iso(now),
        created_at=_iso(now),
        updated_at=_iso(now),
        purge_at=int(now + RETENTION_DAYS * 86400),
    )
    if not conditional(lambda: delivery.save(condition=DeliveryModel.delivery_id.does_not_exist()), "the delivery"):
        delivery = DeliveryModel.get(delivery.delivery_id, consistent_read=True)
        if delivery.status != PENDING or delivery.attempt_count:
            return None
    _enqueue(delivery.delivery_id, 1, now, now)
    return delivery


# -- attempts ------------------------------------------------------------------------------------


def attempt(message: dict[str, Any], clock: Clock = time.time) -> str:
    """Run the attempt a deliveries-queue message names; what became of it (for the log)."""
    delivery_id, number, not_before = str(message["deliveryId"]), int(message["attempt"]), float(message["notBefore"])
    now = clock()
    if not_before - now >= 1:  # back early from SQS's longest delay: round again
        _enqueue(delivery_id, number, not_before, now)
        return "waiting"
    delivery = _delivery(delivery_id)
    if delivery is None or delivery.status != PENDING or int(delivery.attempt_count) != number - 1:
        return "stale"  # a duplicate, or overtaken by a manual retry
    endpoint = _endpoint(delivery.webhook_id)
    if endpoint is None or not endpoint.enabled:
        reason = "the webhook was deleted" if endpoint is None else "the webhook is disabled"
        _record(delivery, number, {"error": reason, "latencyMs": 0}, FAILED, None, now)
        return FAILED
    outcome = _post(endpoint, delivery, now)
    if 200 <= outcome.get("responseStatus", 0) < 300:
        _record(delivery, number, outcome, DELIVERED, None, now)
        if endpoint.failing_since:
            conditional(lambda: endpoint.update(actions=[WebhookModel.failing_since.remove()]), "the webhook")
        return DELIVERED
    delay = next_delay(number - int(delivery.schedule_base), deployment().webhooks.retry_schedule)
    failing = _failing_for(endpoint, now)
    if failing >= deployment().webhooks.disable_after_seconds:
        delay = None  # this failure disables the endpoint: nothing more is tried
    if delay is not None:  # queued before the record: a death in between repeats this attempt, never ends it
        _enqueue(delivery_id, number + 1, now + delay, now)
    status = PENDING if delay is not None else FAILED
    if _record(delivery, number, outcome, status, now + delay if delay is not None else None, now):
        _note_failure(endpoint, now, failing)
    return status


def _post(endpoint: WebhookModel, delivery: DeliveryModel, now: float) -> dict[str, Any]:
    """One signed POST of the delivery's payload: ``{responseStatus, responseBody, latencyMs}`` or
    ``{error, latencyMs}``. The URL is vetted again: what its name resolves to may have changed."""
    settings = deployment().webhooks
    body = delivery.payload.encode()
    secrets_now = [secret.value for secret in endpoints.live_secrets_of(endpoint, datetime.fromtimestamp(now, UTC))]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Reelstack-Webhooks/1.0",
        **signing.headers(secrets_now, delivery.event_id, int(now), body),
    }
    try:
        target = netguard.guard().vet(endpoint.url)
        answer = netguard.send(target, "POST", body, headers, settings.timeout_seconds, RESPONSE_EXCERPT_BYTES)
    except InvalidInput as refused:
        return {"error": f"{refused.code}: {refused.message}", "latencyMs": 0}
    except netguard.RequestFailed as failed:
        return {"error": str(failed), "latencyMs": round(settings.timeout_seconds * 1000)}
    return {
        "responseStatus": answer.status,
        "responseBody": answer.body.decode("utf-8", errors="replace"),
        "latencyMs": answer.latency_ms,
    }


def _record(
    delivery: DeliveryModel, number: int, outcome: dict[str, Any], status: str, next_at: float | None, now: float
) -> bool:
    """The attempt's outcome on the delivery, if nobody recorded this attempt meanwhile."""
    actions = [
        DeliveryModel.attempt_count.set(number),
        DeliveryModel.status.set(status),
        DeliveryModel.updated_at.set(_iso(now)),
        DeliveryModel.next_attempt_at.set(_iso(next_at))
        if next_at is not None
        else DeliveryModel.next_attempt_at.remove(),
    ]
    if number <= MAX_ATTEMPTS_KEPT:
        actions.append(
            DeliveryModel.attempts.set(DeliveryModel.attempts.append([{"attempt": number, "at": _iso(now), **outcome}]))
        )
    return conditional(
        lambda: delivery.update(actions=actions, condition=DeliveryModel.attempt_count == number - 1), "the delivery"
    )


def _failing_for(endpoint: WebhookModel, now: float) -> float:
    """Seconds since the endpoint's first failure after its last success (0: none until this one)."""
    if not endpoint.failing_since:
        return 0
    return now - datetime.fromisoformat(endpoint.failing_since.replace("Z", "+00:00")).timestamp()


def _note_failure(endpoint: WebhookModel, now: float, failing: float) -> None:
    """The endpoint has failed since its first failure after a success; past WebhookDisableAfterSeconds
    of nothing but failures it is disabled, and its owner told."""
    if not endpoint.failing_since:
        conditional(
            lambda: endpoint.update(
                actions=[WebhookModel.failing_since.set(_iso(now))],
                condition=WebhookModel.failing_since.does_not_exist(),
            ),
            "the webhook",
        )
    elif failing >= deployment().webhooks.disable_after_seconds:
        days = failing / 86400
        endpoints.disable(endpoint, f"every delivery failed for {days:.1f} days" if days >= 1
                          else f"every delivery failed for {failing:.0f} s")  # fmt: skip


def _enqueue(delivery_id: str, number: int, not_before: float, now: float) -> None:
    delay = min(SQS_MAX_DELAY_SECONDS, max(0, math.ceil(not_before - now)))
    aws.client("sqs").send_message(
        QueueUrl=deployment().webhooks.deliveries_queue_url,
        MessageBody=json.dumps({"deliveryId": delivery_id, "attempt": number, "notBefore": not_before}),
        DelaySeconds=delay,
    )


# -- the owner's side ----------------------------------------------------------------------------


def list_deliveries(
    owner_id: str, webhook_id: str, limit: str | None = None, cursor: str | None = None
) -> dict[str, Any]:
    """The endpoint's deliveries, newest first, a page at a time."""
    endpoints.owned(owner_id, webhook_id)
    wanted = page_size(limit)
    results = DeliveryModel.by_webhook.query(
        webhook_id,
        scan_index_forward=False,
        limit=wanted,
        page_size=wanted,
        last_evaluated_key=decode_cursor(
            cursor, lambda key: isinstance(key, dict) and key.get("webhookId") == {"S": webhook_id}
        )
        if cursor
        else None,
    )
    items = [view(delivery) for delivery in results]
    last = results.last_evaluated_key
    return {"items": items, "nextCursor": encode_cursor(last) if last else None}


def retry(owner_id: str, webhook_id: str, delivery_id: str, clock: Clock = time.time) -> dict[str, Any]:
    """Deliver again now, with a fresh retry schedule (a failed delivery, a delivered one, or a
    pending one waiting for its next attempt)."""
    endpoint = endpoints.owned(owner_id, webhook_id)
    delivery = _delivery(delivery_id)
    if delivery is None or delivery.webhook_id != endpoint.webhook_id:
        raise NotFound(f"no delivery {delivery_id[:40]!r} for this webhook", code="DeliveryNotFound")
    if not endpoint.enabled:
        raise Conflict('the webhook is disabled: enable it first (PATCH {"enabled": true})', code="WebhookDisabled")
    now, made = clock(), int(delivery.attempt_count)
    restarted = conditional(
        lambda: delivery.update(
            actions=[
                DeliveryModel.status.set(PENDING),
                DeliveryModel.schedule_base.set(made),
                DeliveryModel.next_attempt_at.set(_iso(now)),
                DeliveryModel.updated_at.set(_iso(now)),
            ],
            condition=DeliveryModel.attempt_count == made,
        ),
        "the delivery",
    )
    if not restarted:
        raise Conflict("an attempt of this delivery is running; try again in a moment", code="DeliveryBusy")
    _enqueue(delivery_id, made + 1, now, now)
    return view(delivery)


def view(delivery: DeliveryModel) -> dict[str, Any]:
    attempts = [dict(item.as_dict() if hasattr(item, "as_dict") else item) for item in delivery.attempts or []]
    for item in attempts:
        item["attempt"] = int(item["attempt"])
        item["latencyMs"] = int(item.get("latencyMs", 0))
        if "responseStatus" in item:
            item["responseStatus"] = int(item["responseStatus"])
    last = attempts[-1] if attempts else {}
    return {
        "deliveryId": delivery.delivery_id,
        "webhookId": delivery.webhook_id,
        "eventId": delivery.event_id,
        "eventType": delivery.event_type,
        "status": delivery.status,
        "attemptCount": int(delivery.attempt_count),
        "attempts": attempts,
        **({"nextAttemptAt": delivery.next_attempt_at} if delivery.status == PENDING else {}),
        **({"lastResponseStatus": last["responseStatus"]} if "responseStatus" in last else {}),
        **({"lastResponseBody": last["responseBody"]} if "responseBody" in last else {}),
        **({"lastLatencyMs": last["latencyMs"]} if last else {}),
        "createdAt": delivery.created_at,
        "updatedAt": delivery.updated_at,
    }


def _delivery(delivery_id: str) -> DeliveryModel | None:
    if not is_id(delivery_id):
        return None
    try:
        return DeliveryModel.get(delivery_id, consistent_read=True)
    except DoesNotExist:
        return None


def _endpoint(webhook_id: str) -> WebhookModel | None:
    try:
        return WebhookModel.get(webhook_id, consistent_read=True)
    except DoesNotExist:
        return None


def _iso(moment: float) -> str:
    return iso(datetime.fromtimestamp(moment, UTC))
