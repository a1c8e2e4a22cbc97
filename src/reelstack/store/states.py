"""The life cycles of an upload and of an asset, as the contract names them, and the moves an asset may make."""

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


class UploadMode(StrEnum):
    """How an upload's bytes come: parts the client declared (the ledger's default); parts Uppy sends
    through the Companion routes, or the server fetches from a URL (their size known at complete); or
    one presigned PUT or POST form, whose object's arrival completes the upload (nothing calls complete)."""

    MULTIPART = "multipart"
    COMPANION = "companion"
    URL = "url"  # the FetchUrl function streams a URL's video into parts (reelstack.uploads.fetch)
    PUT = "put"
    POST = "post"

    @property
    def single(self) -> bool:
        return self in (UploadMode.PUT, UploadMode.POST)


def upload_mode(mode: str | None) -> UploadMode:
    return UploadMode(mode or UploadMode.MULTIPART)


# Every move an upload may make, and nothing else: store.uploads.move derives its condition from here.
# "completing" may be taken again: by a complete that finds the lease of one that died expired.
# "uploading -> completed" is a single request's object arriving (store.uploads.arrive).
UPLOAD_TRANSITIONS: dict[UploadStatus, frozenset[UploadStatus]] = {
    UploadStatus.UPLOADING: frozenset(
        {UploadStatus.COMPLETING, UploadStatus.COMPLETED, UploadStatus.ABORTED, UploadStatus.EXPIRED}
    ),
    UploadStatus.COMPLETING: frozenset({UploadStatus.COMPLETING, UploadStatus.COMPLETED}),
    UploadStatus.COMPLETED: frozenset(),
    UploadStatus.ABORTED: frozenset(),
    UploadStatus.EXPIRED: frozenset(),
}


def upload_may_become(status: UploadStatus) -> tuple[UploadStatus, ...]:
    """The states an upload may be in to move to ``status``."""
    return tuple(origin for origin, targets in UPLOAD_TRANSITIONS.items() if status in targets)


# Every move an asset may make, and nothing else: store.assets.move derives its condition from here.
ASSET_TRANSITIONS: dict[AssetStatus, frozenset[AssetStatus]] = {
    AssetStatus.UPLOADING: frozenset({AssetStatus.UPLOADED, AssetStatus.FAILED, AssetStatus.DELETED}),
    AssetStatus.UPLOADED: frozenset({AssetStatus.PROCESSING, AssetStatus.FAILED, AssetStatus.DELETED}),
    AssetStatus.PROCESSING: frozenset({AssetStatus.READY, AssetStatus.FAILED, AssetStatus.DELETED}),
    AssetStatus.READY: frozenset({AssetStatus.DELETED}),
    AssetStatus.FAILED: frozenset({AssetStatus.DELETED}),
    AssetStatus.DELETED: frozenset(),
}


def may_become(status: AssetStatus) -> tuple[AssetStatus, ...]:
    """The states an asset may be in to move to ``status``."""
    return tuple(origin for origin, targets in ASSET_TRANSITIONS.items() if status in targets)


def is_gone(status: str | None) -> bool:
    """Whether nothing may be left under the asset's media prefix: it failed, was deleted or never
    was. A ready asset's outputs are live: a late repeat of a step (one execution per asset, so the
    same outputs) must never remove them."""
    return status is None or status in (AssetStatus.FAILED, AssetStatus.DELETED)
