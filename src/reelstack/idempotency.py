"""Exactly-once work in functions that SNS or S3 may call more than once for the same thing:
Powertools idempotency on ``IdempotencyTable``, keyed by a JMESPath over the function's payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from reelstack.config import deployment

REMEMBERED_SECONDS = 7 * 86400  # longer than any redelivery: S3 and SNS retry for hours, not days


def once_per(key_jmespath: str, payload: str) -> tuple[IdempotencyConfig, Callable[[Callable[..., Any]], Any]]:
    """(config, decorator): the decorated function runs once per distinct key of its ``payload``
    keyword argument; repeats get the first answer. Handlers pass their context to
    ``config.register_lambda_context`` so that an interrupted run can be taken over."""
    config = IdempotencyConfig(event_key_jmespath=key_jmespath, expires_after_seconds=REMEMBERED_SECONDS)
    persistence = DynamoDBPersistenceLayer(table_name=deployment().idempotency_table)
    return config, idempotent_function(data_keyword_argument=payload, config=config, persistence_store=persistence)
