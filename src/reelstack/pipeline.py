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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError, IncompleteReadError
from pynamodb.exceptions import DoesNotExist

from reelstack import aws, render
from reelstack.assets import asset_view, move_asset
from reelstack.config import deployment
from reelstack.errors import (
    AssetGone,
    InjectedFault,
    InvalidInput,
    SourceMismatch,
    code_and_message,
    domain_error_names,
)
from reelstack.events import EventType, publish
from reelstack.keys import MediaKeys, SourceKey, is_id
from reelstack.ladder import Plan, plan_ladder
from reelstack.media import MediaInfo, MediaLimits
from reelstack.models import AssetModel, ErrorAttribute, UploadModel, iso, utc_now
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
        media = render.inspect(source, _time_left(remaining_ms), work, _source_limits())
    AssetModel(job["assetId"]).update(actions=[AssetModel.media.set(media.contract_view())])
    return media.as_dict()


def download_source(job: dict[str, Any], work: Path) -> Path:
    """The source in the work folder, its size and declared SHA-256 checked while it streams in. A
    connection that breaks mid-body is StorageUnavailable (retried), never a verdict on the file."""
    source = job["source"]
    args = {"Bucket": source["bucket"], "Key": source["key"]}
    if source.get("versionId"):
        args["VersionId"] = source["versionId"]
    try:
        body = aws.client("s3").get_object(**args)["Body"]
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "NoSuchVersion"):
            raise AssetGone("the uploaded file is gone (deleted while it waited)") from error
        raise  # a transient failure is named StorageUnavailable at the handler's edge
    cut_short = fault_due("probe:cut-read", job["assetId"])  # FAULT_INJECTION: the body breaks mid-stream
    target = work / "source"
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for chunk in body.iter_chunks(chunk_size=4 * 1024 * 1024 if not cut_short else 64 * 1024):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
            if cut_short:
                body.close()
                raise IncompleteReadError(actual_bytes=size, expected_bytes=source["size"])
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
    made, uploaded = _make(
        job,
        remaining_ms,
        "hls",
        keys.hls_prefix,
        lambda source, media, out, seconds_left: render.encode_ladder(source, media, the_plan, out, seconds_left),
    )
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
        "warnings": [warning.as_dict() for warning in made.warnings],
        "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
    }


# -- thumbnails and previews (extras: what cannot be made from the file is a warning) ----------------


Maker = Callable[[Path, MediaInfo, Path, render.SecondsLeft], render.Made]


def _make(
    job: dict[str, Any], remaining_ms: RemainingMs, folder: str, prefix: str, maker: Maker
) -> tuple[render.Made, int]:
    """Download the source, let ``maker(source, media, out, seconds_left)`` write into a work folder,
    upload what it wrote under ``prefix``; returns what was made and how many objects went up."""
    with work_folder() as work:
        source = download_source(job, work)
        out = work / folder
        out.mkdir()
        made = maker(source, MediaInfo.from_dict(job["media"]), out, _time_left(remaining_ms))
        if fault_due(f"stall:{folder}", job["assetId"]):  # FAULT_INJECTION: a slow step, for races
            time.sleep(float(os.environ.get("FAULT_STALL_SECONDS") or 15))
        uploaded = upload_outputs(job["assetId"], out, prefix)
    return made, uploaded


def thumbnails(job: dict[str, Any], remaining_ms: RemainingMs) -> dict[str, Any]:
    """A poster (one seek, else the first frame that decodes) and a storyboard sprite with its WebVTT."""
    check_job(job)
    keys = MediaKeys(job["assetId"])
    made, _ = _make(job, remaining_ms, "thumbnails", f"{keys.prefix}thumbnails/", render.make_thumbnails)
    return {
        "poster": keys.poster,
        **({"storyboard": {"image": keys.storyboard_image, "vtt": keys.storyboard_vtt}}
           if "storyboard.jpg" in made.files else {}),
        "warnings": [warning.as_dict() for warning in made.warnings],
        "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
    }  # fmt: skip


def previews(job: dict[str, Any], remaining_ms: RemainingMs) -> dict[str, Any]:
    """A muted preview MP4 that feeds autoplay, and an animated WebP of the same moment."""
    check_job(job)
    keys = MediaKeys(job["assetId"])
    made, _ = _make(job, remaining_ms, "previews", f"{keys.prefix}previews/", render.make_previews)
    return {
        "video": keys.preview_video if "preview.mp4" in made.files else None,
        "animated": keys.preview_animated if "preview.webp" in made.files else None,
        "bytes": made.files,
        "warnings": [warning.as_dict() for warning in made.warnings],
        "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
    }


# -- publish and failure -------------------------------------------------------------------------


def publish_ready(job: dict[str, Any]) -> dict[str, Any]:
    """The asset becomes ready with its ladder and whatever extras were made; each extra that could
    not be made is a warning on it (the Parallel state's Catch hands over the extra's error)."""
    check_job(job)
    hls, pictures = job["outputs"]  # pictures: {thumbnails, previews}, or {} for audio-only
    media = MediaInfo.from_dict(job["media"])
    warnings = list(hls.get("warnings") or [])
    actions = [
        AssetModel.renditions.set(hls["renditions"]),
        AssetModel.hls.set({"master": hls["master"]}),
    ]
    thumbs = _extra(pictures.get("thumbnails"), "NoThumbnails", "there are no thumbnails", warnings)
    made = _extra(pictures.get("previews"), "NoPreviews", "there are no previews", warnings)
    if thumbs:
        actions.append(
            AssetModel.thumbnails.set({key: thumbs[key] for key in ("poster", "storyboard") if key in thumbs})
        )
    if made:
        actions.append(AssetModel.previews.set({"video": made["video"], "animated": made["animated"]}))
    if warnings:
        actions.append(AssetModel.warnings.set(warnings))
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
            **({"warnings": warnings} if warnings else {}),
        )
    return {"assetId": job["assetId"], "status": asset.status, "announced": moved, "warnings": warnings}


def _extra(
    output: dict[str, Any] | None, code: str, what: str, warnings: list[dict[str, str]]
) -> dict[str, Any] | None:
    """An extra's step output; its warnings join ``warnings``. A step that failed (the Catch put its
    ``{Error, Cause}`` here) is one warning instead: the video itself is fine."""
    if not output:
        return None
    if "Error" in output:
        _, message = failure_from_state_error(output)
        warnings.append({"code": code, "message": f"{what}: {message}"})
        return None
    warnings.extend(output.get("warnings") or [])
    return output


def record_failure(job: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    """The asset becomes failed with a code and a human message; its partial outputs are removed.

    The status moves first and the objects go after: a step still running elsewhere either sees the
    asset failed when it checks after its upload (and removes what it wrote), or uploaded before
    that check, and so before this deletion."""
    if not is_id(str(job.get("assetId"))):
        log.error("failure of a job without an asset: %s %s", code, message)
        return {"assetId": None, "status": "failed", "code": code, "announced": False}
    moved = move_asset(
        job["assetId"],
        AssetStatus.FAILED,
        from_states=(AssetStatus.UPLOADING, AssetStatus.UPLOADED, AssetStatus.PROCESSING),
        error=ErrorAttribute(code=code, message=message[:1000]),
    )
    # Never the outputs of an asset that became ready: a failure reported after Publish succeeded
    # (a lost answer, then a Catch) must not take a playing video away.
    gone = moved or _status_now(job["assetId"]) in _GONE
    removed = delete_prefix(MediaKeys(job["assetId"]).prefix) if gone else 0
    if moved:
        publish(EventType.ASSET_FAILED, job["assetId"], job["ownerId"], error={"code": code, "message": message})
    return {"assetId": job["assetId"], "status": "failed", "code": code, "removedObjects": removed, "announced": moved}


# Executions that ended without reaching Record failure, as the asset's error.
_ENDED_WITHOUT_CATCH = {
    "TIMED_OUT": ("PipelineTimeout", "processing took longer than the pipeline allows"),
    "ABORTED": ("PipelineStopped", "processing was stopped before it finished"),
    "FAILED": ("PipelineError", "processing failed unexpectedly; the operators have the details"),
}


def execution_ended(execution_arn: str, status: str, execution_input: str | None) -> dict[str, Any]:
    """An execution ended FAILED, TIMED_OUT or ABORTED (EventBridge, or the sweeper that backs it up).
    If it still owned a live asset, the asset fails with a clear reason and one asset.failed, as the
    Catch would have done; an asset that was deleted (a delete stops its execution) or that is
    already failed or ready is left as it is, and whatever a late step wrote under a gone asset's
    prefix is removed."""
    if status not in _ENDED_WITHOUT_CATCH:
        return {"ignored": f"status {status}"}
    try:
        job = json.loads(execution_input or "{}")
    except ValueError:
        job = {}
    asset_id = job.get("assetId") if isinstance(job, dict) else None
    asset_id = asset_id or execution_arn.rsplit(":", 1)[-1].split("-", 1)[0]  # names start with the asset id
    if not is_id(str(asset_id)):
        return {"ignored": "no asset"}
    try:
        asset = AssetModel.get(asset_id, consistent_read=True)
    except DoesNotExist:
        return {"ignored": "no asset", "assetId": asset_id}
    if asset.execution_arn and asset.execution_arn != execution_arn:
        return {"ignored": "another execution owns the asset", "assetId": asset_id}
    code, message = _ENDED_WITHOUT_CATCH[status]
    return record_failure({"assetId": asset_id, "ownerId": asset.owner_id}, code, message)


# Longer than any step takes to move an asset on: an asset unchanged this long may be stuck.
STUCK_AFTER_SECONDS = 1800


def sweep_stuck(older_than_seconds: float = STUCK_AFTER_SECONDS) -> list[dict[str, Any]]:
    """The backstop for EventBridge events that never came: assets still ``uploaded`` or ``processing``
    well after their last change whose execution has ended are settled as execution_ended would."""
    cutoff = iso(datetime.now(UTC) - timedelta(seconds=older_than_seconds))
    settled = []
    stuck = AssetModel.scan(  # hourly, over the few live assets; deleted/ready/failed are filtered out
        AssetModel.status.is_in(AssetStatus.UPLOADED, AssetStatus.PROCESSING) & (AssetModel.updated_at < cutoff)
    )
    sfn = aws.client("stepfunctions")
    for asset in stuck:
        if not asset.execution_arn:
            continue
        try:
            execution = sfn.describe_execution(executionArn=asset.execution_arn)
        except ClientError as error:
            if aws.error_code(error) != "ExecutionDoesNotExist":
                raise
            execution = {"status": "ABORTED", "input": None}  # gone from the history: it is not running
        if execution["status"] != "RUNNING":
            settled.append(execution_ended(asset.execution_arn, execution["status"], execution.get("input")))
    return settled


def failure_from_state_error(error: dict[str, Any]) -> tuple[str, str]:
    """Step Functions' ``{Error, Cause}`` -> the asset's ``(code, message)``."""
    name = error.get("Error") or "States.TaskFailed"
    cause = error.get("Cause") or ""
    try:
        details = json.loads(cause)
    except ValueError:
        details = None
    text = str(details.get("errorMessage", cause) if isinstance(details, dict) else cause)
    code, message = code_and_message(text, _ERROR_CODES.get(name, name.rsplit(".", 1)[-1]))
    if name in domain_error_names():
        return code, message
    # Lambda's or Python's own words (timeouts with request ids, tracebacks) are for operators only.
    log.error("step failed outside the domain: %s %s", name, cause[:2000])
    return code, _PLAIN_REASONS.get(code, "processing failed unexpectedly; the operators have the details")


_PLAIN_REASONS = {
    "PipelineTimeout": "processing took longer than the pipeline allows",
    "OutOfMemory": "processing needed more memory than the pipeline has",
}
# Codes clients see for failures that Lambda or Step Functions report, not the domain.
_ERROR_CODES = {
    "States.Timeout": "PipelineTimeout",
    "Sandbox.Timedout": "PipelineTimeout",
    "Runtime.OutOfMemory": "OutOfMemory",
    "States.TaskFailed": "PipelineError",
}


# -- helpers -------------------------------------------------------------------------------------


def fault_due(fault: str, asset_id: str) -> bool:
    """Whether FAULT_INJECTION names ``fault`` and it has not yet struck this asset (once per asset,
    recorded on the asset, so the retry that follows succeeds). The local cloud has no fault-injection
    service; this switch is how the tests prove that Retry works."""
    if fault not in os.environ.get("FAULT_INJECTION", "").split(","):
        return False
    return aws.conditional(
        lambda: AssetModel(asset_id).update(
            actions=[AssetModel.injected_faults.add({fault})],
            condition=AssetModel.injected_faults.does_not_exist() | ~AssetModel.injected_faults.contains(fault),
        ),
        "the asset",
    )


def inject_fault(step: str, asset_id: str) -> None:
    """Fail ``step`` once per asset with a transient error when FAULT_INJECTION names it."""
    if fault_due(step, asset_id):
        raise InjectedFault(f"fault injected into {step} (FAULT_INJECTION)")


@contextmanager
def work_folder() -> Iterator[Path]:
    """A private folder in /tmp, removed afterwards so that a warm function never fills its disk."""
    folder = Path(tempfile.mkdtemp(prefix="reelstack-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def upload_outputs(asset_id: str, folder: Path, prefix: str) -> int:
    """Upload every file in ``folder`` under ``prefix``, then make sure they may stay: if the asset was
    deleted or failed while this step ran (a sibling branch failed, or the owner deleted it), remove
    them again and raise :class:`AssetGone`. Whoever deletes moves the status first and deletes
    after, so between the two, nothing this step wrote survives (see record_failure)."""
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    keys = [prefix + str(path.relative_to(folder)) for path in files]
    s3, bucket = aws.client("s3"), deployment().media_bucket

    def put(item: tuple[Path, str]) -> None:
        path, key = item
        content_type = _CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "binary/octet-stream"
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, zip(files, keys, strict=True)))
    status = _status_now(asset_id)
    if status in _GONE:
        for batch in range(0, len(keys), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys[batch : batch + 1000]], "Quiet": True}
            )
        raise AssetGone(f"the asset became {status or 'unknown'} while this step ran; its outputs were removed")
    return len(files)


def _status_now(asset_id: str) -> str | None:
    try:
        return AssetModel.get(asset_id, consistent_read=True).status
    except DoesNotExist:
        return None


# The asset states in which nothing may be left under its prefix. A ready asset's outputs are live:
# a late repeat of a step (one execution per asset, so the same outputs) must never remove them.
_GONE = (AssetStatus.FAILED, AssetStatus.DELETED, None)


def delete_prefix(prefix: str) -> int:
    s3, bucket = aws.client("s3"), deployment().media_bucket
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            removed += len(objects)
    return removed


def _source_limits() -> MediaLimits:
    """The template's MaxSourceSeconds (what one transcode Lambda can finish), else the domain's."""
    seconds = os.environ.get("MAX_SOURCE_SECONDS")
    return MediaLimits(max_duration_seconds=float(seconds)) if seconds else MediaLimits()


def _time_left(remaining_ms: RemainingMs) -> render.SecondsLeft:
    """Seconds FFmpeg may still use: the invocation's remaining time less what the upload needs."""
    return lambda: remaining_ms() / 1000 - UPLOAD_MARGIN_SECONDS


def _set_step(asset_id: str, step: str) -> None:
    aws.conditional(
        lambda: AssetModel(asset_id).update(
            actions=[AssetModel.step.set(step), AssetModel.updated_at.set(utc_now())],
            condition=AssetModel.status == AssetStatus.PROCESSING,
        ),
        "the asset",
    )
