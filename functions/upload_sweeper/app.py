"""Scheduled: uploads left open past their window become ``expired`` and their parts are freed; assets
whose execution ended without anyone noticing (an EventBridge event that never came) are settled."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.pipeline.failures import STUCK_AFTER_SECONDS, sweep_stuck
from reelstack.uploads.service import Uploads


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    expired = Uploads().expire_due()
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=len(expired))
    logger.info("expired uploads swept", extra={"count": len(expired), "uploadIds": expired[:50]})
    # The event may ask for a shorter grace (an operator, the tests); the schedule uses the default.
    settled = sweep_stuck(float(event.get("stuckAfterSeconds", STUCK_AFTER_SECONDS)))
    metrics.add_metric(name="StuckAssetsSettled", unit=MetricUnit.Count, value=len(settled))
    return {"expired": expired, "settled": settled}
