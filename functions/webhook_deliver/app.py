"""The webhook deliveries queue -> one attempt per message, the batch's side by side (each may wait
WebhookTimeoutSeconds for its receiver); see reelstack.webhooks.deliveries."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.webhooks import deliveries


def _attempt(record: dict[str, Any]) -> str | None:
    """The record's message id if it must come back (the attempt broke, not the receiver)."""
    try:
        outcome = deliveries.attempt(json.loads(record["body"]))
    except Exception:  # noqa: BLE001 (logged; the message comes back, the batch goes on)
        logger.exception("attempt failed", extra={"messageId": record["messageId"]})
        return record["messageId"]
    logger.info("attempt", extra={"outcome": outcome, "attempt": record["body"]})
    return None


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    records = event["Records"]
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
        failed = [message_id for message_id in pool.map(_attempt, records) if message_id]
    metrics.add_metric(name="WebhookAttempts", unit=MetricUnit.Count, value=len(records))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
