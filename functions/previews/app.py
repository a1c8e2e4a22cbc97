"""Step "Make previews": a muted preview MP4 for feeds that autoplay, and an animated WebP."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, metrics
from reelstack.pipeline.extras import previews
from reelstack.pipeline.job import Job


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = Job.from_state(event)
    made = previews(job, context.get_remaining_time_in_millis)
    minutes = max(job.described().duration_seconds / 60, 1 / 60)
    # The preview's cost in seconds per minute of source.
    metrics.add_metric(name="PreviewSecondsPerMinute", unit=MetricUnit.Seconds, value=made["ffmpegSeconds"] / minutes)
    return made
