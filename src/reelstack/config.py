"""What a function needs to know about its deployment, read once from the environment template.yaml sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Upload rules the server decides (template parameters where a deployment may want others)."""

    max_upload_bytes: int = 10 * 1024 * MiB
    part_url_seconds: int = 3600  # a slow phone gets an hour per batch and can renew through /parts
    min_part_bytes: int = 5 * MiB  # S3's floor for every part but the last
    preferred_part_bytes: int = 8 * MiB  # small enough that a dropped cellular link loses little
    max_parts: int = 10_000  # S3's ceiling
    first_batch_parts: int = 100
    max_batch_parts: int = 100
    upload_window_days: int = 7  # matches the bucket's AbortIncompleteMultipartUpload rule
    ledger_retention_days: int = 30  # finished upload records are purged (DynamoDB TTL) after this


@dataclass(frozen=True)
class Deployment:
    assets_table: str
    uploads_table: str
    upload_bucket: str
    media_bucket: str
    events_topic_arn: str
    limits: Limits
    # "local-test-keys": the local cloud refuses presigned URLs signed with temporary credentials,
    # so there the API signs with LocalStack's static test keys; on AWS the function's role signs.
    presign_credentials: str
    devices_table: str = "reelstack-devices"
    # SNS platform applications (template parameters); an empty one means that platform is off.
    push_applications: dict[str, str] | None = None


@cache
def deployment() -> Deployment:
    env = os.environ
    defaults = Limits()
    return Deployment(
        assets_table=env.get("ASSETS_TABLE", "reelstack-assets"),
        uploads_table=env.get("UPLOADS_TABLE", "reelstack-uploads"),
        upload_bucket=env.get("UPLOAD_BUCKET", ""),
        media_bucket=env.get("MEDIA_BUCKET", ""),
        events_topic_arn=env.get("EVENTS_TOPIC_ARN", ""),
        limits=Limits(
            max_upload_bytes=int(env.get("MAX_UPLOAD_BYTES") or defaults.max_upload_bytes),
            part_url_seconds=int(env.get("PART_URL_SECONDS") or defaults.part_url_seconds),
        ),
        presign_credentials=env.get("PRESIGN_CREDENTIALS", "function-role"),
        devices_table=env.get("DEVICES_TABLE", "reelstack-devices"),
        push_applications={
            "apns": env.get("APNS_PLATFORM_APPLICATION_ARN", ""),
            "fcm": env.get("FCM_PLATFORM_APPLICATION_ARN", ""),
        },
    )
