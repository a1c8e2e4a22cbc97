"""Scheduled: uploads left open past their window become ``expired`` and their parts are freed."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.uploads import Uploads


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    expired = Uploads().expire_due()
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=len(expired))
    logger.info("expired uploads swept", extra={"count": len(expired), "uploadIds": expired[:50]})
    return {"expired": expired}
