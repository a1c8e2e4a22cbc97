"""Presigned S3 multipart uploads and their ledger: the server decides, S3 carries the bytes.

The server picks the key (owner and ids, never the filename), the part size and the URL lifetime.
Every part URL has the part's exact length signed in (and, on request, its SHA-256), so S3 itself
refuses a part of the wrong size or with corrupted bytes. ``complete`` checks what S3 holds against
the client's list and the declared size before it asks S3 to assemble the object; until then the
upload stays resumable.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from reelstack import aws
from reelstack.api_models import CompletedPart, CompleteUpload, CreateUpload, RequestParts, parse_body
from reelstack.assets import move_asset, owned_asset, owned_record
from reelstack.config import Deployment, Limits, deployment
from reelstack.errors import Conflict, InvalidInput, PayloadTooLarge, StorageUnavailable
from reelstack.ids import new_id
from reelstack.keys import SourceKey
from reelstack.media_types import normalise_content_type
from reelstack.models import AssetModel, ErrorAttribute, SourceAttribute, UploadModel, iso
from reelstack.states import AssetStatus, UploadStatus, Visibility, reported

log = logging.getLogger(__name__)

_FILENAME_MAX = 255
# Longer than the API function's timeout (30 s): when it expires, the complete that held it is dead.
COMPLETE_LEASE_SECONDS = 40
# How long a repeated complete waits for the one in flight (API Gateway gives up after 29 s).
REPEAT_WAIT_SECONDS = 5
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")  # controls, bidi overrides, lone surrogates, unassigned


# -- pure rules (no AWS) -------------------------------------------------------------------------


def safe_filename(raw: str) -> str:
    """The client's filename made safe to store and show: the last path segment, printable, bounded.

    It is display metadata only; keys never contain it. Non-UTF-8 names arrive as lone surrogates
    (JSON ``\\udcxx``) and become U+FFFD.
    """
    name = unicodedata.normalize("NFC", re.sub("[\ud800-\udfff]", "\ufffd", raw))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in _UNSAFE_CATEGORIES).strip()
    name = name.lstrip(".").strip() or "untitled"
    if len(name) > _FILENAME_MAX:
        _stem, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 10 else ""
        name = name[: _FILENAME_MAX - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return name


def plan_parts(size: int, limits: Limits) -> tuple[int, int]:
    """``(part_size, part_count)`` for ``size`` bytes: the preferred size, larger only past max_parts."""
    part_size = max(limits.preferred_part_bytes, math.ceil(size / limits.max_parts / 2**20) * 2**20)
    return part_size, max(1, math.ceil(size / part_size))


def part_length(part_number: int, size: int, part_size: int) -> int:
    return min(part_size, size - (part_number - 1) * part_size)


def normalise_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


def _storage_error(error: ClientError) -> StorageUnavailable:
    return StorageUnavailable(f"S3 is not answering as it should ({aws.error_code(error)}); try again")


# -- the service ---------------------------------------------------------------------------------


class Uploads:
    def __init__(
        self,
        s3: Any = None,
        presigner: Any = None,
        settings: Deployment | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s3 = s3 or aws.client("s3")
        self.presigner = presigner or aws.presigning_s3()
        self.settings = settings or deployment()
        self.limits = self.settings.limits
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- POST /uploads ---------------------------------------------------------------------------

    def create(self, owner_id: str, raw_body: bytes | str | None) -> dict[str, Any]:
        request = parse_body(CreateUpload, raw_body)
        if request.size <= 0:
            raise InvalidInput("size must be the file's size in bytes, more than 0", code="EmptyUpload")
        if request.size > self.limits.max_upload_bytes:
            raise PayloadTooLarge(
                f"size {request.size} is over this deployment's limit of {self.limits.max_upload_bytes} bytes"
            )
        content_type = normalise_content_type(request.content_type)
        filename = safe_filename(request.filename)
        part_size, part_count = plan_parts(request.size, self.limits)
        asset_id, upload_id = new_id(), new_id()
        key = str(SourceKey(owner_id, asset_id, upload_id))
        now = self._now()

        create_args: dict[str, Any] = {
            "Bucket": self.settings.upload_bucket,
            "Key": key,
            "ContentType": content_type,
            "Metadata": {"asset-id": asset_id, "upload-id": upload_id},
        }
        if request.checksum_algorithm:
            create_args["ChecksumAlgorithm"] = request.checksum_algorithm
        try:
            s3_upload_id = self.s3.create_multipart_upload(**create_args)["UploadId"]
        except ClientError as error:
            raise _storage_error(error) from error

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
            source=SourceAttribute(
                filename=filename,
                size=request.size,
                content_type=content_type,
                sha256=request.sha256,
            ),
        )
        upload = UploadModel(
            upload_id,
            owner_id=owner_id,
            asset_id=asset_id,
            key=key,
            s3_upload_id=s3_upload_id,
            size=request.size,
            content_type=content_type,
            sha256=request.sha256,
            part_size=part_size,
            part_count=part_count,
            part_checksums=bool(request.checksum_algorithm),
            status=UploadStatus.UPLOADING,
            created_at=iso(now),
            updated_at=iso(now),
            expires_at=iso(now + timedelta(days=self.limits.upload_window_days)),
        )
        try:
            with TransactWrite(connection=Connection(region=AssetModel.Meta.region)) as transaction:
                transaction.save(asset, condition=AssetModel.asset_id.does_not_exist())
                transaction.save(upload, condition=UploadModel.upload_id.does_not_exist())
        except (TransactWriteError, PutError) as error:
            self._abort_quietly(upload)
            raise StorageUnavailable("the upload could not be recorded; try again") from error

        # With checksums the client first hashes each part, then asks for its URL through /parts.
        first = [] if upload.part_checksums else range(1, min(part_count, self.limits.first_batch_parts) + 1)
        return {
            **self._summary(upload),
            "parts": [self._part_url(upload, number) for number in first],
        }

    # -- POST /uploads/{id}/parts ----------------------------------------------------------------

    def part_urls(self, owner_id: str, upload_id: str, raw_body: bytes | str | None) -> dict[str, Any]:
        upload = self._active(owner_id, upload_id)
        request = parse_body(RequestParts, raw_body)
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
        _check_part_numbers(upload, wanted)
        checksums = wanted if upload.part_checksums else {}
        return {"parts": [self._part_url(upload, number, checksums.get(number)) for number in sorted(wanted)]}

    # -- GET /uploads/{id} -----------------------------------------------------------------------

    def status(self, owner_id: str, upload_id: str) -> dict[str, Any]:
        upload = self._owned(owner_id, upload_id)
        upload = self._expire_if_due(upload)
        if upload.status == UploadStatus.UPLOADING:
            held = self._held_parts(upload)
            uploaded = [
                {"partNumber": number, "size": part["size"], "etag": part["etag"]}
                for number, part in sorted(held.items())
            ]
        else:
            uploaded = [dict(part) for part in upload.completed_parts or []]
        return {
            **self._summary(upload),
            "status": reported(upload.status),
            "uploadedParts": uploaded,
            "bytesUploaded": sum(int(part["size"]) for part in uploaded),
        }

    # -- POST /uploads/{id}/complete -------------------------------------------------------------

    def complete(self, owner_id: str, upload_id: str, raw_body: bytes | str | None) -> dict[str, Any]:
        """Single-flight: the first complete takes the upload (``uploading -> completing``, with a lease)
        and assembles it; a concurrent or repeated one answers with the asset as it stands, without
        touching S3, so there is one object version, one execution, one asset."""
        upload = self._owned(owner_id, upload_id)
        request = parse_body(CompleteUpload, raw_body)
        claimed = self._claimed_parts(upload, request.parts)
        if upload.status in (UploadStatus.COMPLETED, UploadStatus.COMPLETING):
            answer = self._repeated_complete(upload, claimed)
            if answer is not None:
                return answer
        else:
            upload = self._require_uploading(self._expire_if_due(upload))

        held = self._parts_to_assemble(upload)
        self._check_parts(upload, claimed, held)
        parts_record = [
            {"partNumber": number, "size": held[number]["size"], "etag": held[number]["etag"]}
            for number in sorted(claimed)
        ]
        now = self._now()
        lease = iso(now + timedelta(seconds=COMPLETE_LEASE_SECONDS))
        taken = aws.conditional(
            lambda: upload.update(
                actions=[
                    UploadModel.status.set(UploadStatus.COMPLETING),
                    UploadModel.lease_until.set(lease),
                    UploadModel.completed_parts.set(parts_record),
                    UploadModel.updated_at.set(iso(now)),
                ],
                condition=(UploadModel.status == UploadStatus.UPLOADING)
                | ((UploadModel.status == UploadStatus.COMPLETING) & (UploadModel.lease_until < iso(now))),
            ),
            "the upload",
        )
        if not taken:  # another complete got there first, or the upload ended meanwhile
            upload.refresh(consistent_read=True)
            answer = self._repeated_complete(upload, claimed)
            if answer is None:
                self._require_uploading(upload)
                raise Conflict("another complete holds this upload; try again shortly", code="UploadCompleting")
            return answer

        version_id = self._assemble(upload, claimed, held)
        head = self._head_source(upload, version_id)
        if head is None:
            raise Conflict("the upload is no longer open in S3 (aborted or expired)", code="UploadAborted")
        finished = iso(self._now())
        kept = aws.conditional(
            lambda: upload.update(
                actions=[
                    UploadModel.status.set(UploadStatus.COMPLETED),
                    UploadModel.version_id.set(head.get("VersionId")),
                    UploadModel.updated_at.set(finished),
                    UploadModel.purge_at.set(self._purge_at()),
                    UploadModel.lease_until.remove(),
                ],
                condition=(UploadModel.status == UploadStatus.COMPLETING) & (UploadModel.lease_until == lease),
            ),
            "the upload",
        )
        if not kept:  # this call outlived its lease and another complete finished the job
            upload.refresh(consistent_read=True)
            return self._completed_view(upload)
        move_asset(upload.asset_id, AssetStatus.UPLOADED, (AssetStatus.UPLOADING,), now=finished)
        return self._completed_view(upload)

    def _parts_to_assemble(self, upload: UploadModel) -> dict[int, dict[str, Any]]:
        """What S3 holds; when taking over from a complete that died after S3 assembled the object
        (its parts are gone), the parts that complete recorded."""
        try:
            return self._held_parts(upload)
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
            return self._completed_view(upload)  # a phone that lost the first answer asks again
        if upload.lease_until and upload.lease_until < iso(self._now()):
            return None
        # Another request is assembling it right now: give it a moment, then answer as things stand
        # (the asset is "uploading" until S3 has the object, "uploaded" after).
        deadline = time.monotonic() + REPEAT_WAIT_SECONDS
        while upload.status == UploadStatus.COMPLETING and time.monotonic() < deadline:
            time.sleep(0.25)
            upload.refresh(consistent_read=True)
        return self._completed_view(upload)

    def _assemble(self, upload: UploadModel, claimed: dict[int, str], held: dict[int, dict[str, Any]]) -> str | None:
        """CompleteMultipartUpload with the checked parts; the new object's version id."""
        completion: list[dict[str, Any]] = []
        for number in sorted(claimed):
            part = {"PartNumber": number, "ETag": f'"{held[number]["etag"]}"'}
            if upload.part_checksums:
                part["ChecksumSHA256"] = held[number]["checksum"]
            completion.append(part)
        try:
            result = self.s3.complete_multipart_upload(
                Bucket=self.settings.upload_bucket,
                Key=upload.key,
                UploadId=upload.s3_upload_id,
                MultipartUpload={"Parts": completion},
            )
            return result.get("VersionId")
        except ClientError as error:
            code = aws.error_code(error)
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "BadDigest", "InvalidRequest"):
                raise InvalidInput(f"S3 refused the parts: {error}", code="PartMismatch") from error
            if code != "NoSuchUpload":
                raise _storage_error(error) from error
            return None  # a complete whose lease expired did finish it; the object tells us below

    # -- DELETE /uploads/{id} --------------------------------------------------------------------

    def abort(self, owner_id: str, upload_id: str) -> None:
        upload = self._owned(owner_id, upload_id)
        if upload.status == UploadStatus.ABORTED:
            return  # DELETE is idempotent
        upload = self._require_uploading(self._expire_if_due(upload))
        self._abort_quietly(upload)
        now = iso(self._now())
        if not self._end(upload, UploadStatus.ABORTED, now):
            raise Conflict("the upload completed while aborting", code="UploadCompleted")
        move_asset(upload.asset_id, AssetStatus.DELETED, (AssetStatus.UPLOADING,), now=now)

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
        self._abort_quietly(upload)
        if not self._end(upload, UploadStatus.EXPIRED, now):
            upload.refresh(consistent_read=True)
            return upload
        move_asset(
            upload.asset_id,
            AssetStatus.FAILED,
            (AssetStatus.UPLOADING,),
            now=now,
            error=ErrorAttribute(
                code="UploadExpired",
                message=f"the upload was not completed within {self.limits.upload_window_days} days",
            ),
        )
        log.info("upload %s expired", upload.upload_id)
        return upload

    # -- helpers ---------------------------------------------------------------------------------

    def _owned(self, owner_id: str, upload_id: str) -> UploadModel:
        return owned_record(UploadModel, owner_id, upload_id, "UploadNotFound")

    def _end(self, upload: UploadModel, status: UploadStatus, now: str) -> bool:
        """Move an open upload to a final status; False if it was no longer open."""
        return aws.conditional(
            lambda: upload.update(
                actions=[
                    UploadModel.status.set(status),
                    UploadModel.updated_at.set(now),
                    UploadModel.purge_at.set(self._purge_at()),
                ],
                condition=UploadModel.status == UploadStatus.UPLOADING,
            ),
            "the upload",
        )

    def _active(self, owner_id: str, upload_id: str) -> UploadModel:
        return self._require_uploading(self._expire_if_due(self._owned(owner_id, upload_id)))

    @staticmethod
    def _require_uploading(upload: UploadModel) -> UploadModel:
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

    def _summary(self, upload: UploadModel) -> dict[str, Any]:
        return {
            "uploadId": upload.upload_id,
            "assetId": upload.asset_id,
            "status": reported(upload.status),
            "size": int(upload.size),
            "partSize": int(upload.part_size),
            "partCount": int(upload.part_count),
            "expiresAt": upload.expires_at,
            "checksumAlgorithm": "SHA256" if upload.part_checksums else None,
        }

    def _completed_view(self, upload: UploadModel) -> dict[str, Any]:
        asset = owned_asset(upload.owner_id, upload.asset_id)
        return {"assetId": upload.asset_id, "uploadId": upload.upload_id, "status": asset.status}

    def _part_url(self, upload: UploadModel, number: int, checksum: str | None = None) -> dict[str, Any]:
        length = part_length(number, int(upload.size), int(upload.part_size))
        params: dict[str, Any] = {
            "Bucket": self.settings.upload_bucket,
            "Key": upload.key,
            "UploadId": upload.s3_upload_id,
            "PartNumber": number,
            "ContentLength": length,  # signed: S3 refuses a part of any other length
        }
        headers = {}
        if checksum:
            params["ChecksumSHA256"] = checksum
            headers["x-amz-checksum-sha256"] = checksum
        seconds = self.limits.part_url_seconds
        url = self.presigner.generate_presigned_url("upload_part", Params=params, ExpiresIn=seconds)
        return {
            "partNumber": number,
            "url": url,
            "size": length,
            "offset": (number - 1) * int(upload.part_size),
            "expiresAt": iso(self._now() + timedelta(seconds=seconds)),
            "headers": headers,
        }

    def _held_parts(self, upload: UploadModel) -> dict[int, dict[str, Any]]:
        """The parts S3 holds for the upload: number -> size, etag (and checksum)."""
        held: dict[int, dict[str, Any]] = {}
        marker = 0
        while True:
            try:
                page = self.s3.list_parts(
                    Bucket=self.settings.upload_bucket,
                    Key=upload.key,
                    UploadId=upload.s3_upload_id,
                    PartNumberMarker=marker,
                    MaxParts=1000,
                )
            except ClientError as error:
                if aws.error_code(error) == "NoSuchUpload":
                    raise Conflict("S3 no longer has this upload (aborted or expired)", code="UploadAborted") from error
                raise _storage_error(error) from error
            for part in page.get("Parts", []):
                held[part["PartNumber"]] = {
                    "size": part["Size"],
                    "etag": normalise_etag(part["ETag"]),
                    "checksum": part.get("ChecksumSHA256"),
                }
            if not page.get("IsTruncated"):
                return held
            marker = page["NextPartNumberMarker"]

    @staticmethod
    def _claimed_parts(upload: UploadModel, parts: list[CompletedPart]) -> dict[int, str]:
        claimed: dict[int, str] = {}
        for part in parts:
            if part.part_number in claimed:
                raise InvalidInput(f"part {part.part_number} is listed twice", code="DuplicatePart")
            claimed[part.part_number] = normalise_etag(part.etag)
        _check_part_numbers(upload, claimed)
        return claimed

    def _check_parts(self, upload: UploadModel, claimed: dict[int, str], held: dict[int, dict[str, Any]]) -> None:
        count, size, part_size = int(upload.part_count), int(upload.size), int(upload.part_size)
        not_listed = [number for number in range(1, count + 1) if number not in claimed]
        if not_listed:
            raise InvalidInput(f"the list lacks parts {_numbers(not_listed)} of {count}", code="MissingParts")
        not_held = [number for number in range(1, count + 1) if number not in held]
        if not_held:
            raise InvalidInput(f"S3 does not hold parts {_numbers(not_held)} yet; upload them", code="MissingParts")
        wrong = [number for number in sorted(claimed) if claimed[number] != held[number]["etag"]]
        if wrong:
            raise InvalidInput(
                f"the ETags of parts {_numbers(wrong)} differ from what S3 holds; upload them again or send S3's ETags",
                code="PartMismatch",
            )
        for number in range(1, count):
            if held[number]["size"] < self.limits.min_part_bytes:
                raise InvalidInput(
                    f"part {number} is {held[number]['size']} bytes; every part but the last needs at least "
                    f"{self.limits.min_part_bytes}",
                    code="PartTooSmall",
                )
            if held[number]["size"] != part_size:
                raise InvalidInput(
                    f"part {number} is {held[number]['size']} bytes; this upload's parts are {part_size}",
                    code="PartSizeMismatch",
                )
        total = sum(held[number]["size"] for number in range(1, count + 1))
        if total != size:
            raise InvalidInput(f"the parts add up to {total} bytes, not the declared {size}", code="SizeMismatch")

    def _head_source(self, upload: UploadModel, version_id: str | None) -> dict[str, Any] | None:
        args = {"Bucket": self.settings.upload_bucket, "Key": upload.key}
        if version_id:
            args["VersionId"] = version_id
        try:
            return self.s3.head_object(**args)
        except ClientError as error:
            if aws.error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _storage_error(error) from error

    def _abort_quietly(self, upload: UploadModel) -> None:
        try:
            self.s3.abort_multipart_upload(
                Bucket=self.settings.upload_bucket, Key=upload.key, UploadId=upload.s3_upload_id
            )
        except ClientError as error:
            if aws.error_code(error) not in ("NoSuchUpload", "404"):
                log.warning("could not abort multipart upload %s: %s", upload.upload_id, error)

    def _purge_at(self) -> int:
        return int(self.clock()) + self.limits.ledger_retention_days * 86400


def _check_part_numbers(upload: UploadModel, numbers: Iterable[int]) -> None:
    beyond = sorted(number for number in numbers if number > upload.part_count)
    if beyond:
        raise InvalidInput(
            f"this upload has {int(upload.part_count)} parts; there is no part {beyond[0]}", code="InvalidPartNumber"
        )


def _numbers(numbers: list[int], shown: int = 10) -> str:
    text = ", ".join(str(number) for number in numbers[:shown])
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")
