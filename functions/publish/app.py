"""Step "Publish": the asset becomes ready and asset.ready goes out (once, whatever the retries)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.pipeline import publish_ready

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(assetId=event.get("assetId"))
    result = publish_ready(event)
    metrics.add_metric(name="AssetsReady", unit=MetricUnit.Count, value=1 if result["announced"] else 0)
    return result
