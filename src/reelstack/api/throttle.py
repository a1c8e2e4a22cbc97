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

# Pictures rendered on demand (reelstack.api.pictures): distinct renders an hour, per asset and per
# owner. A picture asked for again is stored already and never counts; there is no quota per duration.
RENDERS_PER_ASSET_HOUR = 60
RENDERS_PER_OWNER_HOUR = 600


def admit(owner_id: str, now: float | None = None) -> None:
    """Count the request against the owner's window, or raise :class:`TooManyRequests`."""
    limit = deployment().requests_per_second
    if limit <= 0:
        return
    window = int(now if now is not None else time.time())
    if not _count(f"{owner_id}#{window}", limit, window + 120):
        raise TooManyRequests(
            f"more than {limit} requests a second from this client; try again in a second", retry_after_seconds=1
        )


def admit_render(asset_id: str, owner_id: str, now: float | None = None) -> None:
    """Count one new picture against its asset's and its owner's hour, or raise :class:`TooManyRequests`
    with the seconds left in the hour."""
    moment = now if now is not None else time.time()
    hour = int(moment // 3600)
    retry = 3600 - int(moment % 3600)
    for scope, limit in ((f"asset#{asset_id}", RENDERS_PER_ASSET_HOUR), (f"owner#{owner_id}", RENDERS_PER_OWNER_HOUR)):
        if not _count(f"render#{scope}#{hour}", limit, (hour + 2) * 3600):
            what = "this video" if scope.startswith("asset") else "your videos"
            raise TooManyRequests(
                f"more than {limit} new pictures an hour of {what}; pictures made before still come at once",
                retry_after_seconds=retry,
            )


def _count(key: str, limit: int, expires_at: int) -> bool:
    """One more hit on ``key`` if it has fewer than ``limit`` (one atomic update); False if it has not.
    Nothing is counted where the deployment has no ThrottleTable."""
    table = deployment().throttle_table
    if not table:
        return True
    try:
        aws.client("dynamodb").update_item(
            TableName=table,
            Key={"id": {"S": key}},
            UpdateExpression="ADD hits :one SET expiresAt = if_not_exists(expiresAt, :expires)",
            ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":expires": {"N": str(expires_at)},
            },
        )
    except ClientError as error:
        if aws.error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True
