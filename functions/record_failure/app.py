"""Step "Record failure" (every Catch leads here): the asset becomes failed with a code and a message,
its partial outputs are removed, and asset.failed goes out once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.pipeline import failure_from_state_error, record_failure

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(assetId=event.get("assetId"))
    code, message = failure_from_state_error(event.get("error") or {})
    metrics.add_dimension(name="code", value=code)
    metrics.add_metric(name="AssetsFailed", unit=MetricUnit.Count, value=1)
    logger.warning("asset failed", extra={"code": code, "reason": message})
    return record_failure(event, code, message)
