"""Step "Plan renditions": the HLS ladder for this source."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.pipeline import plan

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(assetId=event.get("assetId"))
    ladder = plan(event)
    metrics.add_metric(name="Renditions", unit=MetricUnit.Count, value=len(ladder["renditions"]))
    return ladder
