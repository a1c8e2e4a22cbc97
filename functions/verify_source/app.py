"""Step "Verify source": the source against the SHA-256 its upload declared, beside the encode."""

from __future__ import annotations

from typing import Any

from reelstack.observability import lambda_handler
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import verify_source


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return verify_source(Job.from_state(event), context.get_remaining_time_in_millis)
