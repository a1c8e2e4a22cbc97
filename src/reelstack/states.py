"""The life cycles of an upload and of an asset, as the contract names them."""

from __future__ import annotations

from enum import StrEnum


class UploadStatus(StrEnum):
    UPLOADING = "uploading"
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
