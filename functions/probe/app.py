"""Step "Probe source": verify the object against its upload and describe it with ffprobe."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.pipeline import probe

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(assetId=event.get("assetId"))
    return probe(event, context.get_remaining_time_in_millis)
