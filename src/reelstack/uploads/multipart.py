"""The S3 upload protocol for one bucket: start a multipart upload, presign parts, list what S3 holds,
assemble, abort; or presign one PUT or POST form of a whole (small) object.

Every part URL has the part's exact length signed in (and, on request, its SHA-256), so S3 itself
refuses a part of the wrong size or with corrupted bytes. S3's own failures become named errors:
StorageUnavailable when trying again may work, Conflict when S3 no longer has the upload.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from reelstack import aws
from reelstack.errors import Conflict, InvalidInput, StorageUnavailable
from reelstack.uploads.rules import HeldParts, normalise_etag

log = logging.getLogger(__name__)
# S3's verdicts on a CompleteMultipartUpload whose parts are not what it holds.
_PARTS_REFUSED = ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "BadDigest", "InvalidRequest")


def _storage_error(error: ClientError) -> StorageUnavailable:
    return StorageUnavailable(f"S3 is not answering as it should ({aws.error_code(error)}); try again")


class Multipart:
    def __init__(self, s3: Any, presigner: Any, bucket: str) -> None:
        self.s3 = s3
        self.presigner = presigner
        self.bucket = bucket

    def start(self, key: str, content_type: str, metadata: dict[str, str], checksums: bool) -> str:
        """A new multipart upload at ``key``; S3's upload id."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ContentType": content_type, "Metadata": metadata}
        if checksums:
            args["ChecksumAlgorithm"] = "SHA256"
        try:
            return self.s3.create_multipart_upload(**args)["UploadId"]
        except ClientError as error:
            raise _storage_error(error) from error

    def part_url(
        self, key: str, s3_upload_id: str, number: int, length: int | None, seconds: int, checksum: str | None
    ) -> tuple[str, dict[str, str]]:
        """A presigned PUT for one part, and the headers the client must send with it. ``length`` is
        signed in when the server knows it (not for Uppy's Companion client, which sends no size:
        complete checks what S3 holds instead)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "UploadId": s3_upload_id, "PartNumber": number}
        if length is not None:
            params["ContentLength"] = length  # signed: S3 refuses a part of any other length
        headers = {}
        if checksum:
            params["ChecksumSHA256"] = checksum
            headers["x-amz-checksum-sha256"] = checksum
        return self.presigner.generate_presigned_url("upload_part", Params=params, ExpiresIn=seconds), headers

    def put_part(self, key: str, s3_upload_id: str, number: int, body: bytes) -> str:
        """Send one part from here (an upload from a URL): its ETag."""
        try:
            answer = self.s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=s3_upload_id, PartNumber=number, Body=body
            )
        except ClientError as error:
            if aws.error_code(error) == "NoSuchUpload":
                raise Conflict("S3 no longer has this upload (aborted or expired)", code="UploadAborted") from error
            raise _storage_error(error) from error
        return normalise_etag(answer["ETag"])

    def object_put_url(
        self, key: str, length: int, content_type: str, seconds: int, checksum: str | None
    ) -> tuple[str, dict[str, str]]:
        """One presigned PUT of the whole object, its length, type (and SHA-256) signed in; the headers
        the client must send."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ContentLength": length,
                                  "ContentType": content_type}  # fmt: skip
        headers = {"Content-Type": content_type}
        if checksum:
            params["ChecksumSHA256"] = checksum
            headers["x-amz-checksum-sha256"] = checksum
        return self.presigner.generate_presigned_url("put_object", Params=params, ExpiresIn=seconds), headers

    def object_post_form(
        self, key: str, sizes: tuple[int, int], content_type: str, metadata: dict[str, str], seconds: int
    ) -> dict[str, Any]:
        """A presigned POST form (S3's browser upload): the policy fixes the key, the type, the metadata
        and the length's range (``content-length-range``), so S3 refuses any other object."""
        fields = {"Content-Type": content_type, **{f"x-amz-meta-{name}": value for name, value in metadata.items()}}
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", *sizes])
        return self.presigner.generate_presigned_post(
            self.bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=seconds
        )

    def held_parts(self, key: str, s3_upload_id: str) -> HeldParts:
        """The parts S3 holds: number -> size, etag (and checksum)."""
        held: HeldParts = {}
        marker = 0
        while True:
            try:
                page = self.s3.list_parts(
                    Bucket=self.bucket, Key=key, UploadId=s3_upload_id, PartNumberMarker=marker, MaxParts=1000
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

    def assemble(self, key: str, s3_upload_id: str, held: HeldParts, numbers: list[int], checksums: bool) -> str | None:
        """CompleteMultipartUpload with the checked parts; the new object's version id (None when the
        upload is gone because a complete whose lease expired did finish it: the object tells)."""
        completion: list[dict[str, Any]] = []
        for number in sorted(numbers):
            part = {"PartNumber": number, "ETag": f'"{held[number]["etag"]}"'}
            if checksums:
                part["ChecksumSHA256"] = held[number]["checksum"]
            completion.append(part)
        try:
            result = self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=s3_upload_id, MultipartUpload={"Parts": completion}
            )
            return result.get("VersionId")
        except ClientError as error:
            code = aws.error_code(error)
            if code in _PARTS_REFUSED:
                raise InvalidInput(f"S3 refused the parts: {error}", code="PartMismatch") from error
            if code != "NoSuchUpload":
                raise _storage_error(error) from error
            return None

    def head(self, key: str, version_id: str | None) -> dict[str, Any] | None:
        """The assembled object's metadata; None if there is no such object."""
        args = {"Bucket": self.bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        try:
            return self.s3.head_object(**args)
        except ClientError as error:
            if aws.error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _storage_error(error) from error

    def abort(self, key: str, s3_upload_id: str) -> None:
        """Free the parts; an upload S3 no longer has is fine, anything else is only logged."""
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=s3_upload_id)
        except ClientError as error:
            if aws.error_code(error) not in ("NoSuchUpload", "404"):
                log.warning("could not abort multipart upload at %s: %s", key, error)
