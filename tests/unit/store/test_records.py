"""Records and the one conditional write."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from pynamodb.exceptions import DeleteError, UpdateError

from reelstack import errors
from reelstack.store.records import AssetModel, Change, commit, conditional
from reelstack.store.states import AssetStatus
from tests.unit.conftest import client_error


def test_a_throttled_conditional_write_is_not_taken_for_already_moved() -> None:
    def throttled() -> None:
        raise UpdateError("x", cause=client_error("ProvisionedThroughputExceededException", 400, "UpdateItem"))

    def refused() -> None:
        raise UpdateError("x", cause=client_error("ConditionalCheckFailedException", 400, "UpdateItem"))

    assert conditional(lambda: None, "the asset") is True
    assert conditional(refused, "the asset") is False
    with pytest.raises(errors.StorageUnavailable):
        conditional(throttled, "the asset")


def test_a_throttled_conditional_delete_is_not_taken_for_already_gone() -> None:
    def throttled() -> None:
        raise DeleteError("x", cause=client_error("ThrottlingException", 400, "DeleteItem"))

    def refused() -> None:
        raise DeleteError("x", cause=client_error("ConditionalCheckFailedException", 400, "DeleteItem"))

    assert conditional(refused, "the device") is False
    with pytest.raises(errors.StorageUnavailable):
        conditional(throttled, "the device")


@pytest.mark.usefixtures("aws")
def test_every_transaction_of_a_process_goes_through_one_dynamodb_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new pynamodb Connection per transaction built a botocore session and client each time (the
    endpoint and service descriptions read again: 0.2-0.3 s of CPU per status move, 43 % of the
    functions' CPU on the local cloud); every move now shares one."""
    made: list[str] = []
    create_client = botocore.session.Session.create_client

    def counted(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return create_client(self, service, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    ids = [f"01kbbbbbbbbbbbbbbbbbbbbb{n:02d}" for n in range(4)]
    for asset_id in ids:
        AssetModel(asset_id, owner_id="alice", status=AssetStatus.UPLOADED).save()
    made.clear()  # the model's own client is made by now
    for asset_id in ids:  # as a status move that announces an event writes it
        for status in (AssetStatus.PROCESSING, AssetStatus.READY):
            assert commit(Change(AssetModel(asset_id), [AssetModel.status.set(status)]), "the asset")
    assert made.count("dynamodb") <= 1, made  # one client for all eight (none if an earlier test made it)
    assert [AssetModel.get(asset_id).status for asset_id in ids] == [AssetStatus.READY] * 4
