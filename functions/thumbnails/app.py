"""Step "Make thumbnails": a poster and a storyboard (sprite sheet plus WebVTT)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.pipeline import thumbnails

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(assetId=event.get("assetId"))
    made = thumbnails(event, context.get_remaining_time_in_millis)
    metrics.add_metric(name="ThumbnailSeconds", unit=MetricUnit.Seconds, value=made["ffmpegSeconds"])
    return made
