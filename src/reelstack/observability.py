"""Powertools Logger, Tracer and Metrics for every function, applied in one place.

``lambda_handler`` wraps a handler with structured logs (the Lambda context and the asset id as
keys), X-Ray tracing (off in the local cloud) and EMF metrics flushed at the end of each call; a
transient AWS failure that escapes the handler becomes StorageUnavailable or ServiceUnavailable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from reelstack import aws

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "lambda_handler", "logger", "metrics", "tracer"]

Handler = Callable[[Any, Any], Any]


def lambda_handler(work: Handler) -> Handler:
    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    @functools.wraps(work)
    def handler(event: Any, context: Any) -> Any:
        if isinstance(event, dict) and isinstance(event.get("assetId"), str):
            logger.append_keys(assetId=event["assetId"])
        try:
            return work(event, context)
        except Exception as error:
            # A transient AWS failure leaves as the named error the state machine retries.
            named = aws.as_named(error)
            if named is None:
                raise
            logger.warning("transient AWS failure", exc_info=True)
            raise named from error

    return handler
