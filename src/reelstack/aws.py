"""boto3 clients, made once per warm function (the endpoint comes from AWS_ENDPOINT_URL in the local cloud)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from pynamodb.exceptions import PynamoDBException
from urllib3.exceptions import HTTPError as Urllib3Error

from reelstack.config import deployment
from reelstack.errors import ReelstackError, ServiceUnavailable, StorageUnavailable

_CONFIG = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 4})
# LocalStack's static test credentials; see Deployment.presign_credentials.
_LOCAL_TEST_KEYS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


@cache
def presigning_s3() -> Any:
    """The S3 client that signs URLs handed to clients."""
    if deployment().presign_credentials == "local-test-keys":
        return boto3.client("s3", config=_CONFIG, **_LOCAL_TEST_KEYS)
    return client("s3")


def error_code(error: ClientError) -> str:
    """The service's name for what went wrong (``NoSuchKey``, ``ConditionalCheckFailedException``, ...)."""
    return error.response.get("Error", {}).get("Code", "")


# What AWS services say when trying again may work (throttling, overload, their own faults).
_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "TransactionInProgressException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
    }
)
# Transport failures: a reset or closed connection, a body cut short, a timeout.
_TRANSPORT = (BotoConnectionError, HTTPClientError, IncompleteReadError, ResponseStreamingError, Urllib3Error)
_STORAGE_OPERATIONS = ("Object", "Objects", "ObjectVersions", "MultipartUpload", "Part", "Parts", "Item", "Items",
                       "Query", "Scan", "ObjectsV2")  # fmt: skip


def _root(error: BaseException) -> BaseException:
    """The AWS failure under pynamodb's wrapper, if any."""
    return error.cause if isinstance(error, PynamoDBException) and error.cause is not None else error


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` from an AWS call says nothing about the request: trying again may work."""
    error = _root(error)
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(error) in _RETRYABLE_CODES or status >= 500
    return isinstance(error, _TRANSPORT)


def _from_storage(error: BaseException) -> bool:
    """S3 or DynamoDB (by pynamodb's wrapper, a streamed body, or the operation's name)."""
    if isinstance(error, PynamoDBException) or not isinstance(error, ClientError):
        return True  # transport failures here are S3 bodies and DynamoDB calls; SNS and SFN calls are small
    return str(error.operation_name).endswith(_STORAGE_OPERATIONS)


def as_named(error: BaseException) -> ReelstackError | None:
    """A transient AWS failure as the named error Step Functions retries (StorageUnavailable for S3
    and DynamoDB, ServiceUnavailable for SNS, Step Functions and the rest); None for anything else."""
    if isinstance(error, ReelstackError) or not is_transient(error):
        return None
    root = _root(error)
    detail = f"{error_code(root)} from {root.operation_name}" if isinstance(root, ClientError) else type(root).__name__
    kind = StorageUnavailable if _from_storage(error) else ServiceUnavailable
    return kind(f"an AWS service did not answer as it should ({detail}); trying again may work")
