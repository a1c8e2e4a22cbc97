"""Step "Probe source": verify the object against its upload and describe it with ffprobe."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, metrics
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import probe_source


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    media = probe_source(Job.from_state(event), context.get_remaining_time_in_millis)
    metrics.add_metric(name="SourceSeconds", unit=MetricUnit.Seconds, value=media["durationSeconds"])
    return media
