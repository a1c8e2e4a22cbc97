"""AWS failures: which are transient (retried, named) and which are left alone."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from pynamodb.exceptions import UpdateError
from urllib3.exceptions import ProtocolError

from reelstack import aws, errors
from tests.unit.conftest import client_error


@pytest.mark.parametrize(
    ("failure", "named"),
    [
        (client_error("SlowDown", 503, "GetObject"), "StorageUnavailable"),
        (client_error("InternalError", 500, "PutObject"), "StorageUnavailable"),
        (client_error("ProvisionedThroughputExceededException", 400, "UpdateItem"), "StorageUnavailable"),
        (client_error("ThrottlingException", 400, "StartExecution"), "ServiceUnavailable"),
        (client_error("Throttling", 400, "Publish"), "ServiceUnavailable"),
        (client_error("InternalFailure", 500, "Publish"), "ServiceUnavailable"),
        (IncompleteReadError(actual_bytes=2031616, expected_bytes=8117631), "StorageUnavailable"),
        (ResponseStreamingError(error=ProtocolError("Connection broken")), "StorageUnavailable"),
        (EndpointConnectionError(endpoint_url="http://s3"), "StorageUnavailable"),
        (ReadTimeoutError(endpoint_url="http://s3"), "StorageUnavailable"),
        (UpdateError("x", cause=client_error("ThrottlingException", 400, "UpdateItem")), "StorageUnavailable"),
        (client_error("NoSuchKey", 404, "GetObject"), None),
        (client_error("AccessDenied", 403, "GetObject"), None),
        (client_error("ValidationException", 400, "UpdateItem"), None),
        (UpdateError("x", cause=client_error("ConditionalCheckFailedException", 400, "UpdateItem")), None),
        (ValueError("a bug"), None),
    ],
)
def test_aws_failures_are_named_transient_or_left_alone(failure: Exception, named: str | None) -> None:
    result = aws.as_named(failure)
    assert (type(result).__name__ if result else None) == named
    if result:
        assert result.transient and type(result).__name__ in errors.transient_names()
        assert "trying again" in result.message
