"""Records and the one conditional write."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import DeleteError, UpdateError

from reelstack import errors
from reelstack.store.records import conditional
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
