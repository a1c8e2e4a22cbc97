"""Scheduled: uploads left open past their window become ``expired`` and their parts are freed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.uploads import Uploads

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    expired = Uploads().expire_due()
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=len(expired))
    logger.info("expired uploads swept", extra={"count": len(expired), "uploadIds": expired[:50]})
    return {"expired": expired}
