"""Step "Transcode HLS ladder": every rendition from one FFmpeg process, uploaded to the media bucket."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.pipeline import transcode

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(assetId=event.get("assetId"))
    result = transcode(event, context.get_remaining_time_in_millis)
    minutes = max(event["media"]["duration_seconds"] / 60, 1 / 60)
    metrics.add_metric(
        name="TranscodeSecondsPerMinute", unit=MetricUnit.Seconds, value=result["ffmpegSeconds"] / minutes
    )
    logger.info("transcoded", extra={"ffmpegSeconds": result["ffmpegSeconds"], "objects": result["objects"]})
    return result
