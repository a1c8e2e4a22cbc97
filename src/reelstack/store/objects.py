"""Objects in the buckets: uploading a folder of outputs, and removing what an asset owns."""

from __future__ import annotations

import json
import mimetypes
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from reelstack import aws
from reelstack.config import deployment
from reelstack.store.keys import source_prefix

_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}
_DELETE_BATCH = 1000  # S3's DeleteObjects limit


def upload_folder(folder: Path, prefix: str) -> list[str]:
    """Every file in ``folder`` to the media bucket under ``prefix`` (8 at a time); their keys."""
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    keys = [prefix + str(path.relative_to(folder)) for path in files]
    upload_files(list(zip(files, keys, strict=True)))
    return keys


def upload_files(files: list[tuple[Path, str]]) -> None:
    """``(path, key)`` pairs to the media bucket, 8 at a time."""
    s3, bucket = aws.client("s3"), deployment().media_bucket

    def put(item: tuple[Path, str]) -> None:
        path, key = item
        # One PutObject (outputs are segments and pictures, far under 5 GB): a failure is a ClientError
        # that aws.is_transient can judge, not the transfer manager's own exception.
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=_content_type(path.name))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))


def put_texts(texts: dict[str, str]) -> None:
    """Small text objects (playlists) by key, 8 at a time."""
    s3, bucket = aws.client("s3"), deployment().media_bucket

    def put(item: tuple[str, str]) -> None:
        key, text = item
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType=_content_type(key))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, texts.items()))


def get_text(key: str) -> str | None:
    """A small text object of the media bucket; None if there is none."""
    try:
        return aws.client("s3").get_object(Bucket=deployment().media_bucket, Key=key)["Body"].read().decode()
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "404"):
            return None
        raise


def get_bytes(key: str, bucket: str | None = None) -> bytes | None:
    """A small object (an init segment, a caption file) of the media bucket, or ``bucket``; None if
    there is none."""
    try:
        body = aws.client("s3").get_object(Bucket=bucket or deployment().media_bucket, Key=key)["Body"]
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    return body.read()


def exists(key: str) -> bool:
    """Whether the media bucket holds ``key``."""
    try:
        aws.client("s3").head_object(Bucket=deployment().media_bucket, Key=key)
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "404", "NotFound"):
            return False
        raise
    return True


def bytes_of(keys: list[str]) -> int:
    """What the media bucket's objects ``keys`` weigh together (listed by their folders, not one HEAD each)."""
    s3, bucket, wanted = aws.client("s3"), deployment().media_bucket, set(keys)
    total = 0
    for folder in {key.rsplit("/", 1)[0] + "/" for key in keys}:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            total += sum(item["Size"] for item in page.get("Contents", []) if item["Key"] in wanted)
    return total


def join_objects(keys: list[str], target: Path) -> int:
    """The media bucket's objects ``keys`` one after the other into ``target`` (an init segment and its
    segments make one fragmented MP4); the bytes written."""
    s3, bucket = aws.client("s3"), deployment().media_bucket
    written = 0
    with target.open("wb") as out:
        for key in keys:
            for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(chunk_size=4 * 1024 * 1024):
                written += out.write(chunk)
    return written


def _content_type(name: str) -> str:
    return _CONTENT_TYPES.get(Path(name).suffix) or mimetypes.guess_type(name)[0] or "binary/octet-stream"


def get_document(key: str) -> Any:
    """A JSON object a step left in the media bucket (under an asset's ``work/``)."""
    body = aws.client("s3").get_object(Bucket=deployment().media_bucket, Key=key)["Body"]
    return json.loads(body.read())


def delete_prefix(prefix: str) -> int:
    """Remove every object under ``prefix`` in the media bucket; how many there were."""
    s3, bucket = aws.client("s3"), deployment().media_bucket
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            removed += len(objects)
    return removed


def delete_source_versions(owner_id: str, asset_id: str) -> int:
    """Every version and delete marker of the asset's source (the upload bucket is versioned)."""
    return delete_every_version(deployment().upload_bucket, source_prefix(owner_id, asset_id))


def delete_every_version(bucket: str, prefix: str, *, exact: bool = False) -> int:
    """Every version and delete marker under ``prefix`` (of the key ``prefix`` itself when ``exact``) in
    a versioned bucket, where a plain DeleteObject only hides the object behind a delete marker."""
    s3 = aws.client("s3")
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        versions = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            if not exact or item["Key"] == prefix
        ]
        if versions:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions, "Quiet": True})
            removed += len(versions)
    return removed
