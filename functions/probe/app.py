"""Step "Probe source": verify the object against its upload and describe it with ffprobe."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.pipeline import probe

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(assetId=event.get("assetId"))
    media = probe(event, context.get_remaining_time_in_millis)
    metrics.add_metric(name="SourceSeconds", unit=MetricUnit.Seconds, value=media["duration_seconds"])
    return media
