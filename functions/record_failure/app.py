"""Step "Record failure" (every Catch leads here): the asset becomes failed with a code and a message,
its partial outputs are removed, and asset.failed goes out once."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.pipeline.failures import failure_from_state_error, record_failure


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    code, message = failure_from_state_error(event.get("error") or {})
    metrics.add_dimension(name="code", value=code)  # failures by reason
    metrics.add_metric(name="AssetsFailed", unit=MetricUnit.Count, value=1)
    logger.warning("asset failed", extra={"code": code, "reason": message})
    # The state may be malformed (that can be why it failed): only the asset and owner ids are read.
    return record_failure(event.get("assetId"), event.get("ownerId"), code, message)
