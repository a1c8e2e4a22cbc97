"""Presigned S3 multipart uploads and their ledger: the server decides, S3 carries the bytes.

The server picks the key (owner and ids, never the filename), the part size and the URL lifetime.
``complete`` checks what S3 holds against the client's list and the declared size (rules.py) before
it asks S3 to assemble the object (multipart.py); until then the upload stays resumable. Requests
arrive parsed (reelstack.bodies); answers are the contract's JSON.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from reelstack import aws, netguard
from reelstack.bodies import CompleteUpload, CreateUpload, CreateUploadFromUrl, RequestParts
from reelstack.config import Deployment, deployment
from reelstack.errors import (
    Conflict,
    InvalidInput,
    ReelstackError,
    ServiceUnavailable,
    StorageUnavailable,
    UploadTooLarge,
)
from reelstack.ids import new_id
from reelstack.store import assets
from reelstack.store import uploads as ledger
from reelstack.store.keys import SourceKey
from reelstack.store.records import (
    AssetModel,
    ErrorAttribute,
    SourceAttribute,
    UploadModel,
    iso,
    owned_record,
    transactions,
)
from reelstack.store.states import AssetStatus, UploadMode, UploadStatus, Visibility, reported, upload_mode
from reelstack.uploads.multipart import Multipart
from reelstack.uploads.rules import (
    UNKNOWN_TYPE,
    HeldParts,
    check_part_numbers,
    check_parts,
    chosen_parts,
    claimed_parts,
    normalise_content_type,
    part_length,
    plan_from_held,
    plan_parts,
    safe_filename,
)
from reelstack.uploads.views import completed_view, require_uploading, upload_summary

log = logging.getLogger(__name__)

# Longer than the API function's timeout (30 s): when it expires, the complete that held it is dead.
COMPLETE_LEASE_SECONDS = 40
# How long a repeated complete waits for the one in flight (API Gateway gives up after 29 s).
REPEAT_WAIT_SECONDS = 5


def _object_metadata(asset_id: str, upload_id: str) -> dict[str, str]:
    """S3 metadata on every uploaded object: whose it is, whatever else goes wrong."""
    return {"asset-id": asset_id, "upload-id": upload_id}


# -- the service ---------------------------------------------------------------------------------


Tracks = dict[str, dict[str, Any]] | None  # text tracks by id, as the asset stores them


class Uploads:
    def __init__(
        self,
        s3: Any = None,
        presigner: Any = None,
        settings: Deployment | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or deployment()
        self.limits = self.settings.limits
        self.multipart = Multipart(
            s3 or aws.client("s3"), presigner or aws.presigning_s3(), self.settings.upload_bucket
        )
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- POST /uploads ---------------------------------------------------------------------------

    def create(self, owner_id: str, request: CreateUpload, text_tracks: Tracks = None) -> dict[str, Any]:
        """Declare an upload: the server picks the key, the part size (unless the client chose one
        within S3's bounds) and the URLs' lifetime, starts the S3 multipart upload and records the
        asset and the upload in one transaction. With ``method``, one presigned PUT or POST form instead.
        ``text_tracks``: the asset's first text tracks (captions to generate, made by the route)."""
        self._check_size(request.size)
        content_type = normalise_content_type(request.content_type)
        if request.method:
            return self._create_single(owner_id, request, content_type, text_tracks)
        if request.part_size is not None:
            plan = chosen_parts(request.size, request.part_size, self.limits)
        else:
            plan = plan_parts(request.size, self.limits)
        upload = self._open(owner_id, request, content_type, UploadMode.MULTIPART, (request.size, *plan),
                            text_tracks=text_tracks)  # fmt: skip
        # With checksums the client first hashes each part, then asks for its URL through /parts.
        first = (
            [] if upload.part_checksums else range(1, min(int(upload.part_count), self.limits.first_batch_parts) + 1)
        )
        return {**upload_summary(upload), "parts": [self._part_url(upload, number) for number in first]}

    def _create_single(
        self, owner_id: str, request: CreateUpload, content_type: str, text_tracks: Tracks
    ) -> dict[str, Any]:
        """One presigned PUT (length, type and any SHA-256 signed in) or POST form (exact length in its
        policy); the object's arrival completes the upload (reelstack.pipeline.ingest)."""
        if request.size > self.limits.single_request_max_bytes:
            raise UploadTooLarge(
                f"size {request.size} is over {self.limits.single_request_max_bytes} bytes, the most one request "
                f"takes; leave method out and upload in parts",
                code="TooLargeForOneRequest",
            )
        mode = UploadMode(request.method.lower())
        upload = self._open(owner_id, request, content_type, mode, (request.size, request.size, 1),
                            text_tracks=text_tracks)  # fmt: skip
        return {**upload_summary(upload), "parts": [], **self.single_request(upload)}

    def open_undeclared(
        self, owner_id: str, filename: str, declared_type: str | None, title: str | None, mode: UploadMode
    ) -> UploadModel:
        """An upload whose client will not say its size (Uppy's Companion client): multipart
        (``COMPANION``; complete measures what S3 holds) or one POST form (``POST``; the policy bounds it)."""
        content_type = normalise_content_type(declared_type or UNKNOWN_TYPE)
        request = CreateUpload.model_construct(filename=filename, size=None, content_type=content_type, title=title)
        bound = self.limits.max_upload_bytes
        if mode == UploadMode.POST:
            bound = min(bound, self.limits.single_request_max_bytes)
        return self._open(owner_id, request, content_type, mode, (None, None, None), max_size=bound)

    def from_url(self, owner_id: str, request: CreateUploadFromUrl, text_tracks: Tracks = None) -> dict[str, Any]:
        """An upload the server fetches (reelstack.uploads.fetch, in the FetchUrl function): the URL is
        vetted here first (a non-public address is a 400 and nothing is made), then fetched in the
        background into the upload's parts; ``GET /uploads/{id}`` shows the bytes as they arrive."""
        netguard.guard().vet(request.url)
        name = safe_filename(unquote(urlsplit(request.url).path.rsplit("/", 1)[-1]) or "video")
        declared = CreateUpload.model_construct(
            filename=name, size=None, content_type=UNKNOWN_TYPE, title=request.title,
            description=request.description, tags=request.tags, normalize_audio=request.normalize_audio,
            downloads=request.downloads,
        )  # fmt: skip
        upload = self._open(owner_id, declared, UNKNOWN_TYPE, UploadMode.URL, (None, None, None),
                            max_size=self.limits.max_upload_bytes, source_url=request.url,
                            text_tracks=text_tracks)  # fmt: skip
        try:
            aws.client("lambda").invoke(
                FunctionName=self.settings.fetch_function,
                InvocationType="Event",
                Payload=json.dumps({"uploadId": upload.upload_id}).encode(),
            )
        except (ClientError, BotoCoreError) as error:
            failure = ServiceUnavailable("the download could not be started; try again")
            self.give_up(upload, failure)
            raise failure from error
        return {**upload_summary(upload), "sourceUrl": request.url, "parts": []}

    def give_up(self, upload: UploadModel, error: ReelstackError) -> None:
        """End an open upload the server itself refuses (too large at complete, a URL that failed):
        parts freed, the upload aborted, the asset failed with the error's code and sentence."""
        self._free(upload)
        now = iso(self._now())
        if self._end(upload, UploadStatus.ABORTED, now):
            failure = ErrorAttribute(code=error.code, message=error.message)
            assets.move(upload.asset_id, AssetStatus.FAILED, now=now, only_from=(AssetStatus.UPLOADING,), error=failure)

    def _check_size(self, size: int) -> None:
        if size <= 0:
            raise InvalidInput("size must be the file's size in bytes, more than 0", code="EmptyUpload")
        if size > self.limits.max_upload_bytes:
            raise UploadTooLarge(f"size {size} is over this deployment's limit of {self.limits.max_upload_bytes} bytes")

    def _open(
        self,
        owner_id: str,
        request: CreateUpload,
        content_type: str,
        mode: UploadMode,
        plan: tuple[int | None, int | None, int | None],
        max_size: int | None = None,
        source_url: str | None = None,
        text_tracks: Tracks = None,
    ) -> UploadModel:
        """Start the S3 multipart upload (multipart modes) and record the asset and the upload in one
        transaction; ``plan`` is (size, part size, part count), None where the client did not say."""
        asset_id, upload_id = new_id(), new_id()
        key = str(SourceKey(owner_id, asset_id, upload_id))
        s3_upload_id = None
        if not mode.single:
            s3_upload_id = self.multipart.start(
                key, content_type, metadata=_object_metadata(asset_id, upload_id),
                checksums=bool(request.checksum_algorithm),
            )  # fmt: skip
        asset, upload = self._records(owner_id, request, content_type, asset_id, upload_id, key, s3_upload_id, plan)
        upload.mode, upload.max_size, upload.source_url = mode.value, max_size, source_url
        asset.text_tracks = text_tracks or None
        try:
            with TransactWrite(connection=transactions(self.settings.region)) as transaction:
                transaction.save(asset, condition=AssetModel.asset_id.does_not_exist())
                transaction.save(upload, condition=UploadModel.upload_id.does_not_exist())
        except (TransactWriteError, PutError) as error:
            self._free(upload)
            raise StorageUnavailable("the upload could not be recorded; try again") from error
        return upload

    def single_request(self, upload: UploadModel) -> dict[str, Any]:
        """The one request that carries the whole object: ``{method, url, headers}`` (PUT) or
        ``{method, url, fields}`` (POST form), in the names Uppy's getUploadParameters returns."""
        seconds = self.limits.part_url_seconds
        expires = iso(self._now() + timedelta(seconds=seconds))
        if upload.mode == UploadMode.PUT:
            checksum = base64.b64encode(bytes.fromhex(upload.sha256)).decode() if upload.sha256 else None
            url, headers = self.multipart.object_put_url(
                upload.key, int(upload.size), upload.content_type, seconds, checksum
            )
            return {"method": "PUT", "url": url, "headers": headers, "expiresAt": expires}
        sizes = (int(upload.size), int(upload.size)) if upload.size is not None else (1, int(upload.max_size))
        metadata = _object_metadata(upload.asset_id, upload.upload_id)
        form = self.multipart.object_post_form(upload.key, sizes, upload.content_type, metadata, seconds)
        return {"method": "POST", "url": form["url"], "fields": form["fields"], "expiresAt": expires}

    def _records(
        self,
        owner_id: str,
        request: CreateUpload,
        content_type: str,
        asset_id: str,
        upload_id: str,
        key: str,
        s3_upload_id: str | None,
        plan: tuple[int | None, int | None, int | None],
    ) -> tuple[AssetModel, UploadModel]:
        """The new asset (``uploading``, private) and its upload's ledger entry."""
        filename = safe_filename(request.filename)
        size, part_size, part_count = plan
        now = self._now()
        asset = AssetModel(
            asset_id,
            owner_id=owner_id,
            status=AssetStatus.UPLOADING,
            title=request.title if request.title is not None else filename.rsplit(".", 1)[0],
            description=request.description or "",
            tags=request.tags or [],
            visibility=Visibility.PRIVATE,
            created_at=iso(now),
            updated_at=iso(now),
            upload_id=upload_id,
            source=SourceAttribute(filename=filename, size=size, content_type=content_type, sha256=request.sha256),
            # Downloads asked for (names checked by the route): made once the asset is ready.
            downloads={name: {"status": "preparing"} for name in request.downloads} if request.downloads else None,
        )
        upload = UploadModel(
            upload_id,
            owner_id=owner_id,
            asset_id=asset_id,
            key=key,
            s3_upload_id=s3_upload_id,
            size=size,
            content_type=content_type,
            sha256=request.sha256,
            part_size=part_size,
            part_count=part_count,
            part_checksums=bool(request.checksum_algorithm),
            normalize_audio=self._normalize_audio(request),
            status=UploadStatus.UPLOADING,
            created_at=iso(now),
            updated_at=iso(now),
            expires_at=iso(now + timedelta(days=self.limits.upload_window_days)),
        )
        return asset, upload

    def _normalize_audio(self, request: CreateUpload) -> bool:
        """Whether the audio is evened out: as the upload says, else as the deployment's NormalizeAudio."""
        return self.settings.normalize_audio if request.normalize_audio is None else request.normalize_audio

    # -- POST /uploads/{id}/parts ----------------------------------------------------------------

    def part_urls(self, owner_id: str, upload_id: str, read: Callable[[], RequestParts]) -> dict[str, Any]:
        """``read`` parses the body, once the upload is known to be the caller's and open (so someone
        else's id is 404 and a finished upload 409 whatever the body)."""
        upload = self._active(owner_id, upload_id)
        self._check_client_may_send(upload)
        request = read()
        if upload.part_checksums and request.parts is None:
            raise InvalidInput(
                "this upload signs a SHA-256 into every part URL: send parts [{partNumber, checksumSHA256}]",
                code="ChecksumRequired",
            )
        wanted = (
            {part.part_number: part.checksum_sha256 for part in request.parts}
            if request.parts is not None
            else dict.fromkeys(request.part_numbers or [])
        )
        check_part_numbers(int(upload.part_count), wanted)
        checksums = wanted if upload.part_checksums else {}
        return {"parts": [self._part_url(upload, number, checksums.get(number)) for number in sorted(wanted)]}

    # -- GET /uploads/{id} -----------------------------------------------------------------------

    def status(self, owner_id: str, upload_id: str) -> dict[str, Any]:
        upload = self._owned(owner_id, upload_id)
        upload = self._expire_if_due(upload)
        if upload.status == UploadStatus.UPLOADING and upload_mode(upload.mode).single:
            uploaded = []  # one request: nothing is in until the object is
        elif upload.status == UploadStatus.UPLOADING:
            held = self.multipart.held_parts(upload.key, upload.s3_upload_id)
            uploaded = [
                {"partNumber": number, "size": part["size"], "etag": part["etag"]}
                for number, part in sorted(held.items())
            ]
        else:
            uploaded = [dict(part) for part in upload.completed_parts or []]
        return {
            **upload_summary(upload),
            "status": reported(upload.status),
            "uploadedParts": uploaded,
            "bytesUploaded": sum(int(part["size"]) for part in uploaded),
        }

    # -- POST /uploads/{id}/complete -------------------------------------------------------------

    def complete(
        self, owner_id: str, upload_id: str, read: Callable[[], CompleteUpload], *, fetched: bool = False
    ) -> dict[str, Any]:
        """Single-flight: the first complete takes the upload (``uploading -> completing``, with a lease)
        and assembles it; a concurrent or repeated one answers with the asset as it stands, without
        touching S3, so there is one object version, one execution, one asset. ``read`` parses the
        body once the upload is known to be the caller's. The protocol, step by step:"""
        upload = self._owned(owner_id, upload_id)
        self._check_client_may_send(upload, fetched)
        known_count = int(upload.part_count) if upload.part_count is not None else self.limits.max_parts
        claimed = claimed_parts(known_count, ((part.part_number, part.etag) for part in read().parts))
        # 1. A phone that lost the first answer, or a second request racing the first: answer as things are.
        if upload.status in (UploadStatus.COMPLETED, UploadStatus.COMPLETING):
            answer = self._repeated_complete(upload, claimed)
            if answer is not None:
                return answer
        else:
            upload = require_uploading(self._expire_if_due(upload))
        # 2. What S3 holds must be what the client claims, and add up to the declared size.
        held = self._parts_to_assemble(upload)
        measured = self._measure(upload, claimed, held) if upload.size is None else None
        size, part_size, part_count = measured or (int(upload.size), int(upload.part_size), int(upload.part_count))
        check_parts(claimed, held, size=size, part_size=part_size, part_count=part_count, limits=self.limits)
        # 3. Take the upload, with a lease, so that no other complete assembles it too.
        lease = iso(self._now() + timedelta(seconds=COMPLETE_LEASE_SECONDS))
        parts = [{"partNumber": n, "size": held[n]["size"], "etag": held[n]["etag"]} for n in sorted(claimed)]
        if not ledger.take_for_completion(upload, lease, parts, iso(self._now()), measured):
            return self._lost_the_race(upload, claimed)
        # 4. S3 assembles the object (one version), which starts the pipeline through Ingest.
        version_id = self.multipart.assemble(upload.key, upload.s3_upload_id, held, list(claimed),
                                             upload.part_checksums)  # fmt: skip
        head = self.multipart.head(upload.key, version_id)
        if head is None:
            raise Conflict("the upload is no longer open in S3 (aborted or expired)", code="UploadAborted")
        # 5. The ledger says completed (if this call still holds the lease), and the asset uploaded.
        finished = iso(self._now())
        if ledger.finish_completion(upload, lease, head.get("VersionId"), finished, self._purge_at()):
            if measured:
                assets.record_source_size(upload.asset_id, size)
            assets.move(upload.asset_id, AssetStatus.UPLOADED, now=finished, only_from=(AssetStatus.UPLOADING,))
        else:  # this call outlived its lease and another complete finished the job
            upload.refresh(consistent_read=True)
        return completed_view(upload)

    def _check_client_may_send(self, upload: UploadModel, fetched: bool = False) -> None:
        """Parts and complete are the client's only in the multipart modes."""
        mode = upload_mode(upload.mode)
        if mode.single:
            raise Conflict("this upload is one request: the object's arrival completes it", code="SingleRequest")
        if mode == UploadMode.URL and not fetched:
            raise Conflict("the server fetches this upload from its URL; nothing to send", code="UploadFromUrl")

    def _measure(self, upload: UploadModel, claimed: dict[int, str], held: HeldParts) -> tuple[int, int, int]:
        """The plan of an upload whose size was never declared, from what S3 holds; past the limit the
        upload ends here (parts freed, asset failed), as a declared one would have been refused."""
        try:
            return plan_from_held(claimed, held, int(upload.max_size or self.limits.max_upload_bytes))
        except UploadTooLarge as error:
            self.give_up(upload, error)
            raise

    def _lost_the_race(self, upload: UploadModel, claimed: dict[int, str]) -> dict[str, Any]:
        """Another complete took the upload first, or it ended meanwhile: answer as things stand."""
        upload.refresh(consistent_read=True)
        answer = self._repeated_complete(upload, claimed)
        if answer is None:
            require_uploading(upload)
            raise Conflict("another complete holds this upload; try again shortly", code="UploadCompleting")
        return answer

    def _parts_to_assemble(self, upload: UploadModel) -> HeldParts:
        """What S3 holds; when taking over from a complete that died after S3 assembled the object
        (its parts are gone), the parts that complete recorded."""
        try:
            return self.multipart.held_parts(upload.key, upload.s3_upload_id)
        except Conflict:
            if upload.status != UploadStatus.COMPLETING:
                raise
            return {
                int(part["partNumber"]): {"size": int(part["size"]), "etag": part["etag"], "checksum": None}
                for part in upload.completed_parts or []
            }

    def _repeated_complete(self, upload: UploadModel, claimed: dict[int, str]) -> dict[str, Any] | None:
        """The answer to a complete that finds the upload completed or being completed; None when a
        crashed complete's lease has expired and this one may take over."""
        done = {int(part["partNumber"]): part["etag"] for part in upload.completed_parts or []}
        if done != claimed:
            raise Conflict(f"this upload is already {reported(upload.status)} with other parts", code="UploadCompleted")
        if upload.status == UploadStatus.COMPLETED:
            return completed_view(upload)  # a phone that lost the first answer asks again
        if upload.lease_until and upload.lease_until < iso(self._now()):
            return None
        # Another request is assembling it right now: give it a moment, then answer as things stand
        # (the asset is "uploading" until S3 has the object, "uploaded" after).
        deadline = time.monotonic() + REPEAT_WAIT_SECONDS
        while upload.status == UploadStatus.COMPLETING and time.monotonic() < deadline:
            time.sleep(0.25)
            upload.refresh(consistent_read=True)
        return completed_view(upload)

    # -- DELETE /uploads/{id} --------------------------------------------------------------------

    def abort(self, owner_id: str, upload_id: str) -> None:
        upload = self._owned(owner_id, upload_id)
        if upload.status == UploadStatus.ABORTED:
            return  # DELETE is idempotent
        upload = require_uploading(self._expire_if_due(upload))
        self._free(upload)
        now = iso(self._now())
        if not self._end(upload, UploadStatus.ABORTED, now):
            raise Conflict("the upload completed while aborting", code="UploadCompleted")
        assets.move(upload.asset_id, AssetStatus.DELETED, now=now, only_from=(AssetStatus.UPLOADING,))

    # -- expiry ----------------------------------------------------------------------------------

    def expire_due(self) -> list[str]:
        """Mark every open upload past its window ``expired`` and free its parts (the sweeper's job)."""
        now = iso(self._now())
        due = UploadModel.scan(
            (UploadModel.status == UploadStatus.UPLOADING) & (UploadModel.expires_at < now), consistent_read=True
        )
        return [upload.upload_id for upload in due if self._expire_if_due(upload).status == UploadStatus.EXPIRED]

    def _expire_if_due(self, upload: UploadModel) -> UploadModel:
        now = iso(self._now())
        if upload.status != UploadStatus.UPLOADING or upload.expires_at > now:
            return upload
        self._free(upload)
        if not self._end(upload, UploadStatus.EXPIRED, now):
            upload.refresh(consistent_read=True)
            return upload
        assets.move(
            upload.asset_id,
            AssetStatus.FAILED,
            now=now,
            only_from=(AssetStatus.UPLOADING,),
            error=ErrorAttribute(
                code="UploadExpired",
                message=f"the upload was not completed within {self.limits.upload_window_days} days",
            ),
        )
        log.info("upload %s expired", upload.upload_id)
        return upload

    # -- the ledger ------------------------------------------------------------------------------

    def _free(self, upload: UploadModel) -> None:
        """Abort the S3 multipart upload, if it has one (a single request's URL just lapses)."""
        if upload.s3_upload_id:
            self.multipart.abort(upload.key, upload.s3_upload_id)

    def _owned(self, owner_id: str, upload_id: str) -> UploadModel:
        return owned_record(UploadModel, owner_id, upload_id, "UploadNotFound")

    def _end(self, upload: UploadModel, status: UploadStatus, now: str) -> bool:
        """Move an open upload to a final status; False if it was no longer open."""
        return ledger.end(upload, status, now, self._purge_at())

    def _active(self, owner_id: str, upload_id: str) -> UploadModel:
        return require_uploading(self._expire_if_due(self._owned(owner_id, upload_id)))

    def _purge_at(self) -> int:
        return int(self.clock()) + self.limits.ledger_retention_days * 86400

    # -- answers ---------------------------------------------------------------------------------

    def _part_url(self, upload: UploadModel, number: int, checksum: str | None = None) -> dict[str, Any]:
        """A part's URL, its exact length signed in when the upload has a plan (not Companion's: the
        client's chunk size is its own; complete holds the parts to the limit)."""
        seconds = self.limits.part_url_seconds
        if upload.size is None:
            url, headers = self.multipart.part_url(upload.key, upload.s3_upload_id, number, None, seconds, None)
            return {"partNumber": number, "url": url, "headers": headers,
                    "expiresAt": iso(self._now() + timedelta(seconds=seconds))}  # fmt: skip
        length = part_length(number, int(upload.size), int(upload.part_size))
        url, headers = self.multipart.part_url(upload.key, upload.s3_upload_id, number, length, seconds, checksum)
        return {
            "partNumber": number,
            "url": url,
            "size": length,
            "offset": (number - 1) * int(upload.part_size),
            "expiresAt": iso(self._now() + timedelta(seconds=seconds)),
            "headers": headers,
        }

    def companion_part_urls(self, owner_id: str, upload_id: str, numbers: list[int]) -> list[dict[str, Any]]:
        """URLs for the parts Uppy's Companion client asks for, one by one or in a batch."""
        upload = self._active(owner_id, upload_id)
        if upload_mode(upload.mode) != UploadMode.COMPANION:
            raise Conflict("this upload was not started through the Companion routes", code="NotCompanionUpload")
        check_part_numbers(self.limits.max_parts, numbers)
        return [self._part_url(upload, number) for number in numbers]
