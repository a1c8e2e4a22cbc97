"""Step "Make thumbnails": a poster and a storyboard (sprite sheet plus WebVTT)."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, metrics
from reelstack.pipeline.extras import thumbnails
from reelstack.pipeline.job import Job


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    made = thumbnails(Job.from_state(event), context.get_remaining_time_in_millis)
    metrics.add_metric(name="ThumbnailSeconds", unit=MetricUnit.Seconds, value=made["ffmpegSeconds"])
    return made
