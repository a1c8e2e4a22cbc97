"""EventBridge: a pipeline execution ended FAILED, TIMED_OUT or ABORTED. An asset it left in
``processing`` (an operator's stop, a States.Runtime error, the execution's timeout: nothing reached
the Catch) becomes failed with a clear reason and one asset.failed."""

from __future__ import annotations

from typing import Any

from reelstack.observability import lambda_handler, logger
from reelstack.pipeline.failures import execution_ended


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event["detail"]
    outcome = execution_ended(detail["executionArn"], detail["status"], detail.get("input"))
    logger.info("execution ended", extra={"status": detail["status"], "outcome": outcome})
    return outcome
