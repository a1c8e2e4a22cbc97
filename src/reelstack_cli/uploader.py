"""``reelstack upload``: the presigned multipart flow the way a good mobile app does it.

Only the public API is used (never the buckets directly):
- ``POST /uploads`` declares the file (size, type, SHA-256) and gets the part plan;
- parts go straight to S3 in parallel, each retried with backoff; an expired or refused URL is
  renewed through ``POST /uploads/{id}/parts``; with checksums (the default) every URL carries the
  part's SHA-256, so S3 refuses bytes that changed on the way;
- the upload id is kept in a small state file from the first answer on, so after the process is
  killed the next run asks ``GET /uploads/{id}`` what S3 already holds and sends only the rest;
- ``POST /uploads/{id}/complete`` with every part's ETag.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import urllib3

from reelstack_cli.api_client import ApiClient, ApiError, backoff_seconds
from reelstack_cli.pacing import Progress, RateLimiter
from reelstack_cli.upload_state import StateStore, UploadState, default_state_dir
from reelstack_cli.waiting import TERMINAL_ASSET_STATES, describe_progress, wait_for_asset

# Where every caller has long found them (the CLI, the tests, the bench): the upload and what follows it.
__all__ = [
    "TERMINAL_ASSET_STATES", "StateStore", "UploadError", "Uploader", "default_state_dir", "describe_progress",
    "guess_content_type", "wait_for_asset",
]  # fmt: skip

PART_ATTEMPTS = 8
URL_RENEWALS = 4
URL_MARGIN_SECONDS = 60  # renew a URL this close to its expiry instead of racing it
_CHUNK = 256 * 1024
_EXTRA_TYPES = {
    ".mov": "video/quicktime",
    ".m4v": "video/x-m4v",
    ".mkv": "video/x-matroska",
    ".m4a": "audio/mp4",
    ".ts": "video/mp2t",  # the system's table may say Qt Linguist
    ".mts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".flac": "audio/flac",
}


class UploadError(RuntimeError):
    """The upload cannot go on; the message says why and what to do."""


def guess_content_type(path: Path) -> str:
    """The type to declare, from the name; anything that is not plainly audio or video is declared
    unknown (the pipeline reads the file itself to tell what it is)."""
    guessed = _EXTRA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or ""
    return guessed if guessed.startswith(("video/", "audio/")) else "application/octet-stream"


def file_sha256(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


class Uploader:
    def __init__(
        self,
        api: ApiClient,
        owner: str,
        *,
        parallel: int = 4,
        checksums: bool = True,
        max_rate: float | None = None,
        state: StateStore | None = None,
        on_progress: Callable[[int, int], None] = lambda done, total: None,
        on_event: Callable[[str], None] = lambda message: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.owner = owner
        self.parallel = max(1, parallel)
        self.checksums = checksums
        self.limiter = RateLimiter(max_rate)
        self.state = state or StateStore(default_state_dir())
        self.on_progress = on_progress
        self.on_event = on_event
        self.clock = clock  # a phone's clock can be wrong; S3's verdict on a URL wins (403 -> renew)
        self.http = urllib3.PoolManager(maxsize=self.parallel + 2, retries=False)
        self._urls: dict[int, dict[str, Any]] = {}
        self._urls_lock = threading.Lock()

    # -- the whole flow --------------------------------------------------------------------------

    def upload(
        self,
        path: Path,
        *,
        title: str | None = None,
        content_type: str | None = None,
        resume: str = "auto",  # "auto" | "require" | "never"
        options: dict[str, Any] | None = None,  # more of POST /uploads' body, e.g. {"normalizeAudio": True}
    ) -> dict[str, Any]:
        if not path.is_file():
            raise UploadError(f"{path} is not a file")
        started = time.monotonic()
        state, held = self._resume(path, resume)
        if state is not None and held is None:  # the ledger says it was completed before the kill
            self.state.forget(state.api_url, self.owner, path)
            asset = self.api.get(f"/assets/{state.asset_id}")
            return {"assetId": state.asset_id, "uploadId": state.upload_id, "status": asset["status"], "partsSent": 0}
        if state is None:
            state = self._start(path, title, content_type, options or {})
            held = {}
        pending = [number for number in range(1, state.part_count + 1) if number not in held]
        progress = Progress(state.size, self.on_progress)
        progress.add(sum(part["size"] for part in held.values()))
        checksums = self._part_checksums(path, state, pending) if state.checksums else {}
        etags = {number: part["etag"] for number, part in held.items()}
        etags.update(self._send_parts(path, state, pending, checksums, progress))
        result = self._complete(state, etags)
        self.state.forget(state.api_url, self.owner, path)
        elapsed = time.monotonic() - started
        return {
            **result,
            "bytes": state.size,
            "partCount": state.part_count,
            "partSize": state.part_size,
            "partsResumed": len(held),
            "partsSent": len(pending),
            "seconds": round(elapsed, 3),
            "mibPerSecond": round(state.size / 2**20 / elapsed, 2) if elapsed else None,
        }

    def _resume(self, path: Path, resume: str) -> tuple[UploadState | None, dict[int, dict[str, Any]] | None]:
        """The saved upload and the parts S3 holds; ``(state, None)`` if it is complete already."""
        if resume == "never":
            return None, {}
        state = self.state.load(self.api.base_url, self.owner, path)
        if state is None:
            if resume == "require":
                raise UploadError(f"there is no unfinished upload of {path} to resume")
            return None, {}
        try:
            status = self.api.get(f"/uploads/{state.upload_id}")
        except ApiError as error:
            if error.status != 404:
                raise
            status = {"status": "gone"}
        if status["status"] == "completed":
            self.on_event(f"upload {state.upload_id} was already complete")
            return state, None
        if status["status"] != "uploading":
            self.on_event(f"upload {state.upload_id} is {status['status']}; starting a new one")
            self.state.forget(self.api.base_url, self.owner, path)
            if resume == "require":
                raise UploadError(f"the unfinished upload of {path} is {status['status']} and cannot be resumed")
            return None, {}
        held = {part["partNumber"]: part for part in status["uploadedParts"]}
        self.on_event(f"resuming upload {state.upload_id}: {len(held)} of {state.part_count} parts already in S3")
        return state, held

    def _start(self, path: Path, title: str | None, content_type: str | None, options: dict[str, Any]) -> UploadState:
        stat = path.stat()
        body: dict[str, Any] = {
            **options,
            "filename": path.name,
            "size": stat.st_size,
            "contentType": content_type or guess_content_type(path),
        }
        if title:
            body["title"] = title
        if self.checksums:
            body["sha256"] = file_sha256(path)
            body["checksumAlgorithm"] = "SHA256"
        created = self.api.post("/uploads", body)
        state = UploadState(
            path=str(path),
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            api_url=self.api.base_url,
            upload_id=created["uploadId"],
            asset_id=created["assetId"],
            part_size=created["partSize"],
            part_count=created["partCount"],
            checksums=bool(created.get("checksumAlgorithm")),
        )
        self.state.save(self.owner, state)
        for part in created.get("parts", []):
            self._urls[part["partNumber"]] = part
        self.on_event(f"upload {state.upload_id} (asset {state.asset_id}): {state.part_count} parts")
        return state

    # -- parts -----------------------------------------------------------------------------------

    @staticmethod
    def _read_part(path: Path, state: UploadState, number: int) -> bytes:
        offset = (number - 1) * state.part_size
        length = min(state.part_size, state.size - offset)
        with path.open("rb") as source:
            source.seek(offset)
            data = source.read(length)
        if len(data) != length or path.stat().st_mtime_ns != state.mtime_ns:
            raise UploadError(f"{path} changed while uploading; start again with --new")
        return data

    def _part_checksums(self, path: Path, state: UploadState, numbers: list[int]) -> dict[int, str]:
        return {
            number: base64.b64encode(hashlib.sha256(self._read_part(path, state, number)).digest()).decode()
            for number in numbers
        }

    def _url(self, state: UploadState, number: int, pending: list[int], checksums: dict[int, str]) -> dict[str, Any]:
        """A fresh URL for ``number``, asking for a batch of the next pending parts in one call."""
        with self._urls_lock:
            known = self._urls.get(number)
            if known and self._seconds_left(known["expiresAt"]) > URL_MARGIN_SECONDS:
                return known
            batch = [number, *[n for n in pending if n != number and n not in self._urls][:99]]
            if state.checksums:
                body: dict[str, Any] = {"parts": [{"partNumber": n, "checksumSHA256": checksums[n]} for n in batch]}
            else:
                body = {"partNumbers": batch}
            for part in self.api.post(f"/uploads/{state.upload_id}/parts", body)["parts"]:
                self._urls[part["partNumber"]] = part
            return self._urls[number]

    def _seconds_left(self, expires_at: str) -> float:
        return (datetime.fromisoformat(expires_at.replace("Z", "+00:00")) - self.clock()).total_seconds()

    def _forget_url(self, number: int) -> None:
        with self._urls_lock:
            self._urls.pop(number, None)

    def _send_parts(
        self, path: Path, state: UploadState, pending: list[int], checksums: dict[int, str], progress: Progress
    ) -> dict[int, str]:
        etags: dict[int, str] = {}
        stop = threading.Event()

        def send(number: int) -> None:
            if stop.is_set():
                return
            etags[number] = self._send_part(path, state, number, pending, checksums, progress, stop)

        with ThreadPoolExecutor(self.parallel, thread_name_prefix="part") as pool:
            futures = [pool.submit(send, number) for number in pending]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [future for future in done if future.exception()]
            if failed:
                stop.set()
                for future in futures:
                    future.cancel()
                raise failed[0].exception()  # type: ignore[misc]
        return etags

    def _send_part(
        self,
        path: Path,
        state: UploadState,
        number: int,
        pending: list[int],
        checksums: dict[int, str],
        progress: Progress,
        stop: threading.Event,
    ) -> str:
        data = self._read_part(path, state, number)
        renewals = 0
        attempt = 0
        while True:
            url = self._url(state, number, pending, checksums)
            sent = [0]
            try:
                response = self.http.request(
                    "PUT",
                    url["url"],
                    body=self._paced(data, progress, stop, sent),
                    headers={**url.get("headers", {}), "Content-Length": str(len(data))},
                    timeout=urllib3.Timeout(connect=10, read=120),
                )
                if response.status == 200 and response.headers.get("ETag"):
                    return response.headers["ETag"].strip('"')
                code, message = _s3_error(response.data)
                problem = f"S3 answered {response.status} {code} {message}".strip()
                progress.add(-sent[0])
                if response.status == 403 and renewals < URL_RENEWALS:
                    # Expired, or signed by credentials that are gone: ask the API for a new URL.
                    renewals += 1
                    self._forget_url(number)
                    self.on_event(f"part {number}: {problem}; renewing its URL")
                    continue
                if response.status < 500 and code not in ("BadDigest", "RequestTimeout", "SlowDown"):
                    raise UploadError(f"part {number}: {problem}")
            except urllib3.exceptions.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
                progress.add(-sent[0])
            attempt += 1
            if attempt >= PART_ATTEMPTS or stop.is_set():
                raise UploadError(f"part {number} failed {attempt} times; last: {problem}. Run again to resume.")
            delay = backoff_seconds(attempt)
            self.on_event(f"part {number}: {problem}; retrying in {delay:.1f}s")
            time.sleep(delay)
            data = self._read_part(path, state, number)  # a BadDigest may mean a bad read: read again

    def _paced(self, data: bytes, progress: Progress, stop: threading.Event, sent: list[int]) -> Iterator[bytes]:
        """The part's bytes in chunks, at the allowed rate, counted into the progress as they go."""
        view = memoryview(data)
        for offset in range(0, len(data), _CHUNK):
            if stop.is_set():
                raise UploadError("stopped")
            chunk = view[offset : offset + _CHUNK]
            self.limiter.take(len(chunk))
            yield bytes(chunk)
            progress.add(len(chunk))
            sent[0] += len(chunk)

    # -- completion ------------------------------------------------------------------------------

    def _complete(self, state: UploadState, etags: dict[int, str]) -> dict[str, Any]:
        parts = [{"partNumber": number, "etag": etags[number]} for number in sorted(etags)]
        return self.api.post(f"/uploads/{state.upload_id}/complete", {"parts": parts})


def _s3_error(body: bytes) -> tuple[str, str]:
    """S3's error code and message from its XML error document."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - S3's own answer, parsed for two fields
    except ElementTree.ParseError:
        return "", body[:200].decode("utf-8", "replace")
    return root.findtext("Code") or "", root.findtext("Message") or ""
