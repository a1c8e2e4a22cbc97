"""What clients see of an upload (the contract's JSON), and the refusal of one that is no longer open."""

from __future__ import annotations

from typing import Any

from reelstack.errors import Conflict
from reelstack.store import assets
from reelstack.store.records import UploadModel
from reelstack.store.states import UploadStatus, reported, upload_mode


def require_uploading(upload: UploadModel) -> UploadModel:
    """The upload, if it is still open; otherwise the Conflict that says what it became."""
    if upload.status != UploadStatus.UPLOADING:
        code = {
            UploadStatus.COMPLETING: "UploadCompleting",
            UploadStatus.COMPLETED: "UploadCompleted",
            UploadStatus.ABORTED: "UploadAborted",
            UploadStatus.EXPIRED: "UploadExpired",
        }[UploadStatus(upload.status)]
        if upload.status == UploadStatus.COMPLETING:
            raise Conflict("the upload is being completed; ask for the asset shortly", code=code)
        raise Conflict(f"the upload is {upload.status}; start a new one with POST /uploads", code=code)
    return upload


def upload_summary(upload: UploadModel) -> dict[str, Any]:
    return {
        "uploadId": upload.upload_id,
        "assetId": upload.asset_id,
        "status": reported(upload.status),
        # null until the bytes are in when the client never said (Uppy's Companion client)
        "size": _whole(upload.size),
        "partSize": _whole(upload.part_size),
        "partCount": _whole(upload.part_count),
        "expiresAt": upload.expires_at,
        "checksumAlgorithm": "SHA256" if upload.part_checksums else None,
        "key": upload.key,  # the object's key, decided by the server (Uppy wants one)
        "mode": upload_mode(upload.mode).value,
    }


def _whole(number: float | None) -> int | None:
    return None if number is None else int(number)


def completed_view(upload: UploadModel) -> dict[str, Any]:
    asset = assets.owned_asset(upload.owner_id, upload.asset_id)
    return {"assetId": upload.asset_id, "uploadId": upload.upload_id, "status": asset.status}
