"""DynamoDB records (pynamodb). Table names come from the environment the template sets."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.models import Model


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AssetModel(Model):
    class Meta:
        table_name = os.environ.get("ASSETS_TABLE", "reelstack-assets")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    asset_id = UnicodeAttribute(hash_key=True, attr_name="assetId")
    owner_id = UnicodeAttribute(null=True, attr_name="ownerId")
    created_at = UnicodeAttribute(null=True, attr_name="createdAt")
    updated_at = UnicodeAttribute(default_for_new=utc_now, attr_name="updatedAt")
    toolchain = MapAttribute(null=True)
