"""DynamoDB served entirely by moto (selected with ``PROVIDER_OVERRIDE_DYNAMODB=moto``).

Every call is serialised (one lock): moto's ``TransactWriteItems`` copies each table it touches
before it writes and puts the copies back when the transaction is cancelled (a condition that does not
hold, which the outbox and the status moves meet routinely), so a write another thread made to the same
table in between was lost. Seen: an asset's move to ``processing`` undone by a cancelled transaction
on another asset, the asset left ``uploaded`` with its pipeline done. DynamoDB's calls are short; one
at a time costs a laptop nothing.
"""

import threading
from collections.abc import Callable
from typing import Any

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider

_ONE_AT_A_TIME = threading.RLock()


class MotoDynamoDBProvider(DynamodbApi):
    """Implements no operation itself: the moto fallback dispatcher forwards every call to moto."""

    service = "dynamodb"


def _serialised(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def call(context: Any, request: Any) -> Any:
        with _ONE_AT_A_TIME:
            return handler(context, request)

    return call


def _serialised_moto_dispatch(provider: object) -> Any:
    from localstack.services.moto import MotoFallbackDispatcher

    table = MotoFallbackDispatcher(provider)
    for operation, handler in table.items():
        table[operation] = _serialised(handler)
    return table


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=_serialised_moto_dispatch)
