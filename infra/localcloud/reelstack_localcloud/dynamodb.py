"""DynamoDB served entirely by moto (selected with ``PROVIDER_OVERRIDE_DYNAMODB=moto``).

Every call is serialised (one lock): moto's ``TransactWriteItems`` copies each table it touches
before it writes and puts the copies back when the transaction is cancelled (a condition that does not
hold, which the outbox and the status moves meet routinely), so a write another thread made to the same
table in between was lost. Seen: an asset's move to ``processing`` undone by a cancelled transaction
on another asset, the asset left ``uploaded`` with its pipeline done. DynamoDB's calls are short; one
at a time costs a laptop nothing.

The copies themselves are the other cost: moto deep-copies every table a transaction names, all of
its items, to put it back if the transaction is cancelled, so each ``TransactWriteItems`` grew with the
tables (a tenth of the local cloud's CPU by the end of a test run, and growing). Since no other call
runs meanwhile, keeping the items the transaction touches is enough: the transaction runs on the
tables themselves and, when cancelled, those items are put back as they were.
"""

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.runtime import hooks
from localstack.services.plugins import Service, aws_provider
from localstack.utils.patch import Patch
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

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


# -- transactions undone item by item ---------------------------------------------------------------

Touched = tuple[Table, Any, Any, Any]  # the table, the item's hash and range key values, the item before


def _touched_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[Touched]:
    """Each item a transaction names, as it is now (None where there is none yet)."""
    touched = []
    for entry in transact_items:
        operation, request = next(iter(entry.items()))
        table = backend.get_table(request["TableName"])
        if operation == "Put":
            key_names = [table.hash_key_attr] + ([table.range_key_attr] if table.has_range_key else [])
            keys = {name: request["Item"][name] for name in key_names}
        else:
            keys = request["Key"]
        hash_key, range_key = backend.get_keys_value(table, keys)
        touched.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return touched


def _put_back(touched: list[Touched]) -> None:
    for table, hash_key, range_key, before in reversed(touched):
        items = table.items[hash_key] if range_key else table.items
        slot = range_key if range_key else hash_key
        if before is None:
            items.pop(slot, None)
        else:
            items[slot] = before


@contextmanager
def _tables_not_copied() -> Iterator[None]:
    """moto's own backup of each table becomes the table itself (its rollback then changes nothing)."""
    Table.__deepcopy__ = lambda table, memo: table  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del Table.__deepcopy__  # type: ignore[attr-defined]


def transact_with_item_undo(original: Any, backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
    with _ONE_AT_A_TIME:
        try:
            touched = _touched_items(backend, transact_items)
        except Exception:  # noqa: BLE001 - a malformed request: moto's own checks answer it
            return original(backend, transact_items)
        with _tables_not_copied():
            try:
                return original(backend, transact_items)
            except Exception:
                _put_back(touched)
                raise


@hooks.on_infra_start()
def undo_transactions_item_by_item() -> None:
    Patch.function(DynamoDBBackend.transact_write_items, transact_with_item_undo).apply()
