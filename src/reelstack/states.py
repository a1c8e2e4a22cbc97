"""The life cycles of an upload and of an asset, as the contract names them."""

from __future__ import annotations

from enum import StrEnum


class UploadStatus(StrEnum):
    UPLOADING = "uploading"
    # Internal: one complete holds the upload (with a lease) while S3 assembles it; clients see
    # "uploading", as the contract lists.
    COMPLETING = "completing"
    COMPLETED = "completed"
    ABORTED = "aborted"
    EXPIRED = "expired"


class AssetStatus(StrEnum):
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    DELETED = "deleted"


class Visibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


def reported(status: str) -> str:
    """An upload's status as clients see it (internal states shown as the public one they are part of)."""
    return UploadStatus.UPLOADING.value if status == UploadStatus.COMPLETING else status
