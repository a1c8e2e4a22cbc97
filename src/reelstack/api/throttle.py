"""Per-client throttling: each owner may make ``CLIENT_REQUESTS_PER_SECOND`` authenticated requests a
second; past that the API answers 429 with ``Retry-After``.

A fixed one-second window per owner, counted with one atomic DynamoDB update (``ThrottleTable``,
expired by TTL). On AWS the stage's own throttling (template.yaml, MethodSettings) caps the API as
a whole in front of this; the local cloud does not enforce stage throttling, so this is what a
client meets there too.
"""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from reelstack import aws
from reelstack.config import deployment
from reelstack.errors import TooManyRequests


def admit(owner_id: str, now: float | None = None) -> None:
    """Count the request against the owner's window, or raise :class:`TooManyRequests`."""
    settings = deployment()
    limit, table = settings.requests_per_second, settings.throttle_table
    if limit <= 0 or not table:
        return
    window = int(now if now is not None else time.time())
    try:
        aws.client("dynamodb").update_item(
            TableName=table,
            Key={"id": {"S": f"{owner_id}#{window}"}},
            UpdateExpression="ADD hits :one SET expiresAt = if_not_exists(expiresAt, :expires)",
            ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":expires": {"N": str(window + 120)},
            },
        )
    except ClientError as error:
        if aws.error_code(error) == "ConditionalCheckFailedException":
            raise TooManyRequests(
                f"more than {limit} requests a second from this client; try again in a second", retry_after_seconds=1
            ) from error
        raise
