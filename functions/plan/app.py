"""Step "Plan renditions": the HLS ladder for this source, and the derivatives it gets."""

from __future__ import annotations

from typing import Any

from reelstack import derivatives
from reelstack.observability import MetricUnit, lambda_handler, metrics
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import plan


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = Job.from_state(event)
    ladder = plan(job)
    metrics.add_metric(name="Renditions", unit=MetricUnit.Count, value=len(ladder["renditions"]))
    return {**ladder, "derivatives": derivatives.plan(job)}
