"""Step "Publish": the asset becomes ready and asset.ready goes out (once, whatever the retries)."""

from __future__ import annotations

from typing import Any

from reelstack import derivatives
from reelstack.observability import MetricUnit, lambda_handler, metrics
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import publish


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = Job.from_state(event)
    result = publish(job, derivatives.published(job))
    metrics.add_metric(name="AssetsReady", unit=MetricUnit.Count, value=1 if result["announced"] else 0)
    return result
