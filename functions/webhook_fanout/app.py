"""The webhook events queue (subscribed to the events topic, raw messages) -> one delivery per
endpoint of the event's owner that takes its type, first attempts queued (reelstack.webhooks)."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.webhooks import deliveries


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in event["Records"]:
        try:
            started = deliveries.fan_out(record["body"])
        except Exception:  # noqa: BLE001 (logged; this message comes back, the others are done)
            logger.exception("fan-out failed", extra={"messageId": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        metrics.add_metric(name="WebhookDeliveriesStarted", unit=MetricUnit.Count, value=len(started))
    return {"batchItemFailures": failures}
