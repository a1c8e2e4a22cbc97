"""The pipeline's steps, one function per state of ``statemachines/pipeline.asl.json``.

A job is the execution's state: ``{assetId, ownerId, uploadId, source: {bucket, key, versionId,
size, sha256?}}``, to which the steps add ``media``, ``plan`` and ``outputs``. Steps pass S3 keys,
never data (Step Functions allows 256 KiB per state). Every step may run more than once (Retry,
duplicate events): they overwrite the same keys and move the asset's status only forward, with
conditions, so a repeated step never announces anything twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, UpdateError

from reelstack import aws, ffmpeg
from reelstack.assets import asset_view, move_asset
from reelstack.config import deployment
from reelstack.errors import InjectedFault, InvalidInput, SourceMismatch, StorageUnavailable, code_and_message
from reelstack.events import EventType, publish
from reelstack.keys import MediaKeys, SourceKey, is_id
from reelstack.ladder import Plan, plan_ladder
from reelstack.media import MediaInfo, describe
from reelstack.models import AssetModel, ErrorAttribute, UploadModel, utc_now
from reelstack.states import AssetStatus, UploadStatus

log = logging.getLogger(__name__)
RemainingMs = Callable[[], int]
UPLOAD_MARGIN_SECONDS = 20  # kept back from FFmpeg's timeout to upload its output
_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


# -- ingest: S3 ObjectCreated -> one execution per object version ---------------------------------


def execution_name(asset_id: str, version_id: str | None) -> str:
    """Deterministic, so Step Functions itself refuses a second execution for the same version."""
    return f"{asset_id}-{hashlib.sha256((version_id or 'null').encode()).hexdigest()[:16]}"


def ingest(bucket: str, raw_key: str, version_id: str | None, size: int) -> dict[str, Any]:
    """Check the object against its upload; mark the asset uploaded and start its execution once."""
    key = unquote_plus(raw_key)
    try:
        source = SourceKey.parse(key)
        upload = UploadModel.get(source.upload_id, consistent_read=True)
    except (InvalidInput, DoesNotExist):
        return _reject(key, None, None, "NoUploadRecord", "no upload declared this object")
    if (upload.owner_id, upload.asset_id, upload.key) != (source.owner_id, source.asset_id, key):
        return _reject(key, None, None, "NoUploadRecord", "the object's key does not match its upload record")
    if upload.status in (UploadStatus.ABORTED, UploadStatus.EXPIRED):
        return _reject(key, upload.asset_id, upload.owner_id, "UploadNotActive", f"the upload is {upload.status}")

    job = {
        "assetId": upload.asset_id,
        "ownerId": upload.owner_id,
        "uploadId": upload.upload_id,
        "source": {
            "bucket": bucket,
            "key": key,
            "versionId": version_id,
            "size": int(upload.size),
            "contentType": upload.content_type,
            **({"sha256": upload.sha256} if upload.sha256 else {}),
        },
    }
    if size != int(upload.size):
        error = SourceMismatch(
            f"the object is {size} bytes; the upload declared {int(upload.size)}", code="SizeMismatch"
        )
        record_failure(job, error.code, error.message)
        return {"assetId": upload.asset_id, "failed": error.code}
    move_asset(upload.asset_id, AssetStatus.UPLOADED, from_states=(AssetStatus.UPLOADING,))
    name = execution_name(upload.asset_id, version_id)
    sfn = aws.client("stepfunctions")
    try:
        arn = sfn.start_execution(stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=name, input=json.dumps(job))[
            "executionArn"
        ]
    except ClientError as error:
        if aws.error_code(error) != "ExecutionAlreadyExists":
            raise
        log.info("execution %s exists already: a duplicate event", name)
        return {"assetId": upload.asset_id, "execution": name, "started": False}
    AssetModel(upload.asset_id).update(actions=[AssetModel.execution_arn.set(arn)])
    publish(EventType.UPLOAD_COMPLETED, upload.asset_id, upload.owner_id, size=size, versionId=version_id)
    return {"assetId": upload.asset_id, "execution": name, "started": True}


def _reject(key: str, asset_id: str | None, owner_id: str | None, code: str, message: str) -> dict[str, Any]:
    log.error("rejected object %s: %s", key, message)
    publish(EventType.UPLOAD_REJECTED, asset_id, owner_id, key=key, error={"code": code, "message": message})
    return {"rejected": code, "key": key}


def check_job(job: Any) -> dict[str, Any]:
    """The execution's state, or InvalidInput (a caller's bug: never retried)."""
    source = job.get("source") if isinstance(job, dict) else None
    if (
        not isinstance(source, dict)
        or not is_id(str(job.get("assetId")))
        or not isinstance(job.get("ownerId"), str)
        or not {"bucket", "key", "size"} <= set(source)
    ):
        raise InvalidInput("the job needs assetId, ownerId and source {bucket, key, size}")
    return job


# -- probe ---------------------------------------------------------------------------------------


def probe(job: dict[str, Any], remaining_ms: RemainingMs) -> dict[str, Any]:
    """Verify the object against its declaration, then describe it; nothing is decoded yet."""
    check_job(job)
    if move_asset(job["assetId"], AssetStatus.PROCESSING, from_states=(AssetStatus.UPLOADED,), step="probing"):
        publish(EventType.ASSET_PROCESSING, job["assetId"], job["ownerId"], step="probing")
    else:
        _set_step(job["assetId"], "probing")
    inject_fault("probe", job["assetId"])
    with work_folder() as work:
        source = download_source(job, work)
        media = describe(ffmpeg.probe(source, _seconds_left(remaining_ms), work))
    AssetModel(job["assetId"]).update(actions=[AssetModel.media.set(media.contract_view())])
    return media.as_dict()


def download_source(job: dict[str, Any], work: Path) -> Path:
    """The source in the work folder, its size and declared SHA-256 checked while it streams in."""
    source = job["source"]
    args = {"Bucket": source["bucket"], "Key": source["key"]}
    if source.get("versionId"):
        args["VersionId"] = source["versionId"]
    try:
        body = aws.client("s3").get_object(**args)["Body"]
    except ClientError as error:
        raise StorageUnavailable(f"the source could not be read: {error}") from error
    target = work / "source"
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for chunk in body.iter_chunks(chunk_size=4 * 1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != source["size"]:
        raise SourceMismatch(f"the object is {size} bytes; the upload declared {source['size']}", code="SizeMismatch")
    if source.get("sha256") and digest.hexdigest() != source["sha256"]:
        raise SourceMismatch("the object's SHA-256 differs from the one the upload declared", code="ChecksumMismatch")
    return target


# -- plan ----------------------------------------------------------------------------------------


def plan(job: dict[str, Any]) -> dict[str, Any]:
    check_job(job)
    _set_step(job["assetId"], "planning")
    return plan_ladder(MediaInfo.from_dict(job["media"])).as_dict()


# -- transcode -----------------------------------------------------------------------------------


def transcode(job: dict[str, Any], remaining_ms: RemainingMs) -> dict[str, Any]:
    """All renditions from one FFmpeg process; segments and playlists go to the media bucket."""
    check_job(job)
    _set_step(job["assetId"], "transcoding")
    inject_fault("transcode", job["assetId"])
    the_plan = Plan.from_dict(job["plan"])
    keys = MediaKeys(job["assetId"])
    with work_folder() as work:
        source = download_source(job, work)
        out = work / "hls"
        out.mkdir()
        started = time.monotonic()
        ffmpeg.run(ffmpeg.transcode_command(source, the_plan, out), _seconds_left(remaining_ms), work)
        ffmpeg_seconds = time.monotonic() - started
        (out / "master.m3u8").write_text(ffmpeg.master_playlist(the_plan))
        uploaded = upload_folder(out, keys.hls_prefix)
    return {
        "master": keys.master_playlist,
        "renditions": [
            {
                "name": rendition.name,
                "width": rendition.width,
                "height": rendition.height,
                "bitrate": rendition.bandwidth,
                "codecs": rendition.codecs,
                "playlist": f"{keys.hls_prefix}{rendition.name}/index.m3u8",
            }
            for rendition in the_plan.renditions
        ],
        "objects": uploaded,
        "ffmpegSeconds": round(ffmpeg_seconds, 3),
    }


# -- thumbnails and previews ---------------------------------------------------------------------


def _pictures(
    job: dict[str, Any], remaining_ms: RemainingMs, folder: str, commands: Callable[[Path, Path], list[list[str]]]
) -> tuple[dict[str, int], float]:
    """Run ``commands(source, out)`` on the source, upload ``out`` to ``assets/<id>/<folder>/``;
    returns the files' sizes and the FFmpeg seconds."""
    with work_folder() as work:
        source = download_source(job, work)
        out = work / folder
        out.mkdir()
        started = time.monotonic()
        for command in commands(source, out):
            ffmpeg.run(command, _seconds_left(remaining_ms), work)
        seconds = time.monotonic() - started
        sizes = {path.name: path.stat().st_size for path in out.iterdir()}
        upload_folder(out, f"{MediaKeys(job['assetId']).prefix}{folder}/")
    return sizes, seconds


def thumbnails(job: dict[str, Any], remaining_ms: RemainingMs) -> dict[str, Any]:
    """A poster (one seek) and a storyboard sprite with its WebVTT (keyframes only)."""
    check_job(job)
    media = MediaInfo.from_dict(job["media"])
    keys = MediaKeys(job["assetId"])
    board = ffmpeg.plan_storyboard(media.duration_seconds, media.width, media.height)

    def commands(source: Path, out: Path) -> list[list[str]]:
        (out / "storyboard.vtt").write_text(board.vtt("storyboard.jpg", media.duration_seconds))
        at = min(media.duration_seconds * 0.1, 3.0)
        return [
            ffmpeg.poster_command(source, at, media.width, media.height, out / "poster.jpg"),
            ffmpeg.storyboard_command(source, board, out / "storyboard.jpg"),
        ]

    _, seconds = _pictures(job, remaining_ms, "thumbnails", commands)
    return {
        "poster": keys.poster,
        "storyboard": {"image": keys.storyboard_image, "vtt": keys.storyboard_vtt},
        "ffmpegSeconds": round(seconds, 3),
    }


def previews(job: dict[str, Any], remaining_ms: RemainingMs) -> dict[str, Any]:
    """A muted preview MP4 that feeds autoplay, and an animated WebP of the same moment."""
    check_job(job)
    media = MediaInfo.from_dict(job["media"])
    keys = MediaKeys(job["assetId"])

    def commands(source: Path, out: Path) -> list[list[str]]:
        duration, width, height = media.duration_seconds, media.width, media.height
        return [
            ffmpeg.preview_command(source, duration, width, height, out / "preview.mp4"),
            ffmpeg.animated_command(source, duration, width, height, out / "preview.webp"),
        ]

    sizes, seconds = _pictures(job, remaining_ms, "previews", commands)
    return {
        "video": keys.preview_video,
        "animated": keys.preview_animated,
        "bytes": sizes,
        "ffmpegSeconds": round(seconds, 3),
    }


# -- publish and failure -------------------------------------------------------------------------


def publish_ready(job: dict[str, Any]) -> dict[str, Any]:
    check_job(job)
    hls, pictures = job["outputs"]  # pictures: {thumbnails, previews}, or {} for audio-only
    media = MediaInfo.from_dict(job["media"])
    actions = [
        AssetModel.renditions.set(hls["renditions"]),
        AssetModel.hls.set({"master": hls["master"]}),
    ]
    thumbs, made = pictures.get("thumbnails"), pictures.get("previews")
    if thumbs:
        actions.append(AssetModel.thumbnails.set({"poster": thumbs["poster"], "storyboard": thumbs["storyboard"]}))
    if made:
        actions.append(AssetModel.previews.set({"video": made["video"], "animated": made["animated"]}))
    AssetModel(job["assetId"]).update(actions=actions)
    moved = move_asset(job["assetId"], AssetStatus.READY, from_states=(AssetStatus.PROCESSING,))
    asset = AssetModel.get(job["assetId"], consistent_read=True)
    if moved:
        view = asset_view(asset)
        publish(
            EventType.ASSET_READY,
            job["assetId"],
            job["ownerId"],
            playback=view.get("playback"),
            thumbnails=view.get("thumbnails"),
            previews=view.get("previews"),
            renditions=view.get("renditions"),
            media=media.contract_view(),
        )
    return {"assetId": job["assetId"], "status": asset.status, "announced": moved}


def record_failure(job: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    """The asset becomes failed with a code and a human message; its partial outputs are removed."""
    if not is_id(str(job.get("assetId"))):
        log.error("failure of a job without an asset: %s %s", code, message)
        return {"assetId": None, "status": "failed", "code": code, "announced": False}
    removed = delete_prefix(MediaKeys(job["assetId"]).prefix)
    moved = move_asset(
        job["assetId"],
        AssetStatus.FAILED,
        from_states=(AssetStatus.UPLOADING, AssetStatus.UPLOADED, AssetStatus.PROCESSING),
        error=ErrorAttribute(code=code, message=message[:1000]),
    )
    if moved:
        publish(EventType.ASSET_FAILED, job["assetId"], job["ownerId"], error={"code": code, "message": message})
    return {"assetId": job["assetId"], "status": "failed", "code": code, "removedObjects": removed, "announced": moved}


def failure_from_state_error(error: dict[str, Any]) -> tuple[str, str]:
    """Step Functions' ``{Error, Cause}`` -> the asset's ``(code, message)``."""
    name = error.get("Error") or "States.TaskFailed"
    cause = error.get("Cause") or ""
    try:
        details = json.loads(cause)
    except ValueError:
        details = None
    text = details.get("errorMessage", cause) if isinstance(details, dict) else cause
    return code_and_message(str(text), _ERROR_CODES.get(name, name.rsplit(".", 1)[-1]))


# Codes clients see for failures that Lambda or Step Functions report, not the domain.
_ERROR_CODES = {
    "States.Timeout": "PipelineTimeout",
    "Sandbox.Timedout": "PipelineTimeout",
    "Runtime.OutOfMemory": "OutOfMemory",
    "States.TaskFailed": "PipelineError",
}


# -- helpers -------------------------------------------------------------------------------------


def inject_fault(step: str, asset_id: str) -> None:
    """Fail ``step`` once per asset with a transient error when FAULT_INJECTION names it (to prove Retry)."""
    if step not in os.environ.get("FAULT_INJECTION", "").split(","):
        return
    try:
        AssetModel(asset_id).update(
            actions=[AssetModel.injected_faults.add({step})],
            condition=AssetModel.injected_faults.does_not_exist() | ~AssetModel.injected_faults.contains(step),
        )
    except UpdateError:
        return  # injected once already
    raise InjectedFault(f"fault injected into {step} (FAULT_INJECTION)")


@contextmanager
def work_folder() -> Iterator[Path]:
    """A private folder in /tmp, removed afterwards so that a warm function never fills its disk."""
    folder = Path(tempfile.mkdtemp(prefix="reelstack-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def upload_folder(folder: Path, prefix: str) -> int:
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    s3, bucket = aws.client("s3"), deployment().media_bucket

    def put(path: Path) -> None:
        content_type = _CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "binary/octet-stream"
        s3.upload_file(
            str(path), bucket, prefix + str(path.relative_to(folder)), ExtraArgs={"ContentType": content_type}
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    return len(files)


def delete_prefix(prefix: str) -> int:
    s3, bucket = aws.client("s3"), deployment().media_bucket
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            removed += len(objects)
    return removed


def _seconds_left(remaining_ms: RemainingMs) -> float:
    return remaining_ms() / 1000 - UPLOAD_MARGIN_SECONDS


def _set_step(asset_id: str, step: str) -> None:
    try:
        AssetModel(asset_id).update(
            actions=[AssetModel.step.set(step), AssetModel.updated_at.set(utc_now())],
            condition=AssetModel.status == AssetStatus.PROCESSING,
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise StorageUnavailable("the asset could not be updated") from error
