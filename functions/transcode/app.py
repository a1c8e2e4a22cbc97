"""Step "Transcode HLS ladder": every rendition from one FFmpeg process, uploaded to the media bucket."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import transcode


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = Job.from_state(event)
    result = transcode(job, context.get_remaining_time_in_millis)
    minutes = max(job.described().duration_seconds / 60, 1 / 60)
    # Processing time per minute of video: what a bigger Lambda or chunking would buy down.
    metrics.add_metric(
        name="TranscodeSecondsPerMinute", unit=MetricUnit.Seconds, value=result["ffmpegSeconds"] / minutes
    )
    logger.info("transcoded", extra={"ffmpegSeconds": result["ffmpegSeconds"], "objects": result["objects"]})
    return result
