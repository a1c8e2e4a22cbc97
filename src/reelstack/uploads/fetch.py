"""Uploads from a URL (``POST /uploads {url}``): the FetchUrl function streams the video into the
upload's own multipart upload, so it lands in the same ledger and starts the same pipeline.

The request goes through reelstack.netguard, the guard webhooks use: every URL (the first and each of
at most 5 redirects) is vetted before anything connects to it, and only public addresses pass (the
development switch AllowLoopbackUrls adds loopback, nothing else). No credentials, no cookies. The
size is capped by the deployment's MaxUploadBytes (a larger Content-Length is refused before a byte
is read, a body that grows past it is cut), the time by FETCH_SECONDS. S3 holds the parts as they
come, so ``GET /uploads/{id}`` shows ``bytesUploaded`` growing. A failure ends the upload (parts
freed, nothing left in the bucket) and fails the asset with a sentence that says what went wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from reelstack import netguard
from reelstack.bodies import CompletedPart, CompleteUpload
from reelstack.errors import InvalidInput, ReelstackError, SourceUrlFailed, UploadTooLarge
from reelstack.store.records import UploadModel
from reelstack.store.states import UploadMode, UploadStatus, upload_mode
from reelstack.uploads.rules import ACCEPTED_FAMILIES
from reelstack.uploads.service import Uploads

log = logging.getLogger(__name__)

FETCH_SECONDS = 840  # within the function's 900 s
READ_TIMEOUT_SECONDS = 30  # one connect or read
READ_BYTES = 1024 * 1024
# What a server that does not know says about a video (the probe decides what the bytes are).
UNKNOWN_TYPES = ("application/octet-stream", "binary/octet-stream", "application/mp4", "application/x-mpegurl")
HEADERS = {"User-Agent": "Reelstack-Fetch/1 (+uploads from a URL)", "Accept": "video/*, audio/*, */*;q=0.5"}


def fetch_into_upload(
    upload_id: str, guard: netguard.Guard | None = None, clock: Callable[[], float] = time.monotonic
) -> dict[str, Any]:
    """Fetch the upload's URL into its multipart upload and complete it; on failure end it and fail
    the asset with why. What happened, for the log."""
    uploads = Uploads()
    upload = UploadModel.get(upload_id, consistent_read=True)
    if upload.status != UploadStatus.UPLOADING or upload_mode(upload.mode) != UploadMode.URL:
        return {"uploadId": upload_id, "skipped": upload.status}
    try:
        parts = _stream(uploads, upload, guard or netguard.guard(), clock() + FETCH_SECONDS, clock)
        done = uploads.complete(upload.owner_id, upload_id, lambda: CompleteUpload(parts=parts), fetched=True)
    except ReelstackError as failure:
        uploads.give_up(upload, failure)
        log.info("upload %s from a URL failed: %s", upload_id, failure)
        return {"uploadId": upload_id, "failed": failure.code, "message": failure.message}
    return {"uploadId": upload_id, "status": done["status"], "bytes": int(UploadModel.get(upload_id).size)}


def _stream(
    uploads: Uploads, upload: UploadModel, guard: netguard.Guard, deadline: float, clock: Callable[[], float]
) -> list[CompletedPart]:
    limit = uploads.limits.max_upload_bytes
    part_size = uploads.limits.preferred_part_bytes
    try:
        with netguard.open_following(guard, upload.source_url, HEADERS, READ_TIMEOUT_SECONDS) as answer:
            _check_answer(answer, limit)
            parts: list[CompletedPart] = []
            buffer, total = bytearray(), 0
            while True:
                if clock() > deadline:
                    raise SourceUrlFailed(
                        f"the download took longer than {FETCH_SECONDS} s; the server is too slow",
                        code="SourceUnreachable",
                    )
                chunk = answer.read(READ_BYTES)
                total += len(chunk)
                if total > limit:
                    raise UploadTooLarge(f"the video at the URL is over this deployment's limit of {limit} bytes")
                buffer += chunk
                if buffer and (len(buffer) >= part_size or not chunk):
                    etag = uploads.multipart.put_part(upload.key, upload.s3_upload_id, len(parts) + 1,
                                                      bytes(buffer[:part_size]))  # fmt: skip
                    parts.append(CompletedPart(partNumber=len(parts) + 1, etag=etag))
                    del buffer[:part_size]
                if not chunk and not buffer:
                    break
    except netguard.RequestFailed as error:
        raise SourceUrlFailed(f"the URL is not reachable: {error}", code="SourceUnreachable") from error
    except InvalidInput as refusal:  # the guard's verdict on a hop (UnsafeUrl, TooManyRedirects, ...)
        raise SourceUrlFailed(refusal.message, code=refusal.code) from refusal
    if not parts:
        raise SourceUrlFailed("the URL answered with no bytes: not a video", code="NotAVideo")
    return parts


def _check_answer(answer: netguard.Opened, limit: int) -> None:
    if answer.status in (404, 410):
        raise SourceUrlFailed(f"not found: the URL answered {answer.status}", code="SourceNotFound")
    if not 200 <= answer.status < 300:
        raise SourceUrlFailed(f"the URL answered {answer.status}, not the video", code="SourceUnreachable")
    length = answer.header("Content-Length")
    if length and length.strip().isdigit() and int(length) > limit:
        raise UploadTooLarge(f"the video at the URL is {int(length)} bytes, over this deployment's limit of {limit}")
    kind = (answer.header("Content-Type") or "").split(";", 1)[0].strip().lower()
    if kind and not (kind.startswith(ACCEPTED_FAMILIES) or kind in UNKNOWN_TYPES):
        raise SourceUrlFailed(f"not a video: the URL serves {kind[:100]}", code="NotAVideo")
