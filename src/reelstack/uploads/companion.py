"""Companion's S3 routes, as stock Uppy calls them (``@uppy/aws-s3`` with ``companionEndpoint``), on
the same upload service, ledger and pipeline as the API's own routes.

Under ``<api>/companion/<grant>`` (reelstack.uploads.grants says whose uploads they are):

- ``GET  /s3/params?filename&type&metadata[..]`` -> ``{method: "POST", url, fields, expires}``: a POST
  form whose policy fixes the key and type and bounds the length (``content-length-range``, at most
  SingleRequestMaxBytes); the object's arrival completes the upload (reelstack.pipeline.ingest).
- ``POST /s3/multipart {filename, type, metadata}`` -> ``{key, uploadId}``
- ``GET  /s3/multipart/{uploadId}/{partNumber}?key`` -> ``{url, expires}``
- ``GET  /s3/multipart/{uploadId}/batch?key&partNumbers=1,2`` -> ``{presignedUrls: {n: url}}``
- ``GET  /s3/multipart/{uploadId}?key`` -> ``[{PartNumber, Size, ETag}]`` (what S3 holds: resume)
- ``POST /s3/multipart/{uploadId}/complete?key {parts: [{PartNumber, ETag}]}`` -> ``{location, key, ...}``
- ``DELETE /s3/multipart/{uploadId}?key`` -> ``{}``

The ``uploadId`` Uppy holds is the API's (GET /uploads/{id} shows the same upload); the key it sends
back must be the one the server chose. Uppy sends no size: the size limit holds at the POST policy and
at complete (the parts S3 holds; past the limit the upload ends and its parts are freed). The type
rules, the key and the ledger are the API's own.
"""

from __future__ import annotations

from typing import Any

from reelstack.bodies import CompanionComplete, CompanionCreate, CompletedPart, CompleteUpload
from reelstack.errors import InvalidInput, NotFound
from reelstack.store.records import UploadModel, owned_record
from reelstack.store.states import UploadMode
from reelstack.uploads.service import Uploads

_BATCH_MAX = 100


def _title(metadata: dict[str, Any] | None) -> str | None:
    """An app may set Uppy's ``meta.title``; anything else in the metadata is Uppy's own."""
    title = (metadata or {}).get("title")
    return title[:200] if isinstance(title, str) and title.strip() else None


def _metadata_from_query(query: dict[str, str]) -> dict[str, Any]:
    return {name[9:-1]: value for name, value in query.items() if name.startswith("metadata[") and name.endswith("]")}


class Companion:
    def __init__(self, uploads: Uploads) -> None:
        self.uploads = uploads

    def params(self, owner_id: str, query: dict[str, str]) -> dict[str, Any]:
        filename = query.get("filename") or "untitled"
        upload = self.uploads.open_undeclared(
            owner_id, filename, query.get("type"), _title(_metadata_from_query(query)), UploadMode.POST
        )
        signed = self.uploads.single_request(upload)
        return {**signed, "expires": self.uploads.limits.part_url_seconds, "uploadId": upload.upload_id,
                "assetId": upload.asset_id}  # fmt: skip

    def create(self, owner_id: str, request: CompanionCreate) -> dict[str, Any]:
        upload = self.uploads.open_undeclared(
            owner_id, request.filename, request.type, _title(request.metadata), UploadMode.COMPANION
        )
        return {"key": upload.key, "uploadId": upload.upload_id, "assetId": upload.asset_id}

    def sign_part(self, owner_id: str, upload_id: str, key: str | None, part_number: str) -> dict[str, Any]:
        self._check_key(owner_id, upload_id, key)
        if not part_number.isdigit():
            raise InvalidInput(f"not a part number: {part_number[:20]!r}", code="InvalidPartNumber")
        [part] = self.uploads.companion_part_urls(owner_id, upload_id, [int(part_number)])
        return {"url": part["url"], "expires": self.uploads.limits.part_url_seconds, "headers": part["headers"]}

    def sign_batch(self, owner_id: str, upload_id: str, key: str | None, numbers: str | None) -> dict[str, Any]:
        self._check_key(owner_id, upload_id, key)
        wanted = [text.strip() for text in (numbers or "").split(",") if text.strip()]
        if not wanted or len(wanted) > _BATCH_MAX or not all(text.isdigit() for text in wanted):
            raise InvalidInput(f"partNumbers: 1 to {_BATCH_MAX} part numbers, comma-separated", code="InvalidInput")
        parts = self.uploads.companion_part_urls(owner_id, upload_id, sorted({int(text) for text in wanted}))
        return {"presignedUrls": {str(part["partNumber"]): part["url"] for part in parts}}

    def list_parts(self, owner_id: str, upload_id: str, key: str | None) -> list[dict[str, Any]]:
        self._check_key(owner_id, upload_id, key)
        status = self.uploads.status(owner_id, upload_id)
        return [
            {"PartNumber": part["partNumber"], "Size": part["size"], "ETag": part["etag"]}
            for part in status["uploadedParts"]
        ]

    def complete(self, owner_id: str, upload_id: str, key: str | None, request: CompanionComplete) -> dict[str, Any]:
        upload = self._check_key(owner_id, upload_id, key)
        parts = [CompletedPart(partNumber=part.part_number, etag=part.etag) for part in request.parts]
        done = self.uploads.complete(owner_id, upload_id, lambda: CompleteUpload(parts=parts))
        return {**done, "key": upload.key}

    def abort(self, owner_id: str, upload_id: str, key: str | None) -> dict[str, Any]:
        self._check_key(owner_id, upload_id, key)
        self.uploads.abort(owner_id, upload_id)
        return {}

    def _check_key(self, owner_id: str, upload_id: str, key: str | None) -> UploadModel:
        """The caller's upload, named by the key the server chose for it (someone else's is not found)."""
        upload = owned_record(UploadModel, owner_id, upload_id, "UploadNotFound")
        if key is not None and key != upload.key:
            raise NotFound("no upload with this id and key", code="UploadNotFound")
        return upload
