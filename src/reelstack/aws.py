"""boto3 clients, made once per warm function (the endpoint comes from AWS_ENDPOINT_URL in the local cloud)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from reelstack.config import deployment

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
