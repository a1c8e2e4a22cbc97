"""The pipeline's steps, one function per Task state of ``statemachines/pipeline.asl.json``.

Each takes the job (reelstack.pipeline.job) and returns what the state machine stores under the
step's key. Every step may run more than once (Retry, duplicate events): they overwrite the same
keys and move the asset's status only forward, with conditions, so a repeated step never announces
anything twice.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, IncompleteReadError

from reelstack import aws, sharing
from reelstack.config import deployment
from reelstack.errors import AssetGone, SourceMismatch
from reelstack.media import render
from reelstack.media.budget import check_fits
from reelstack.media.ladder import Plan, plan_ladder
from reelstack.media.limits import MediaLimits
from reelstack.media.probe import MediaInfo
from reelstack.pipeline import progressive
from reelstack.pipeline.failures import failure_from_state_error
from reelstack.pipeline.faults import fault_due, inject_fault, stall_if_due
from reelstack.pipeline.job import Job
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix, get_document, upload_folder
from reelstack.store.records import AssetModel, conditional, utc_now
from reelstack.store.states import AssetStatus
from reelstack.store.views import asset_view

RemainingMs = Callable[[], int]
UPLOAD_MARGIN_SECONDS = 20  # kept back from FFmpeg's timeout to upload its output
UPLOAD_MARGIN_SHARE = 0.25  # ... or this share of the time a short function has


# -- probe ---------------------------------------------------------------------------------------


def probe(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """Verify the object against its declaration, then describe it; nothing is decoded yet."""
    processing = events.event(EventType.ASSET_PROCESSING, job.asset_id, job.owner_id, step="probing")
    if assets.move(job.asset_id, AssetStatus.PROCESSING, step="probing", announcing=processing):
        events.publish(processing)
    else:
        _set_step(job.asset_id, "probing")
    inject_fault("probe", job.asset_id)
    with work_folder() as work:
        source = download_source(job, work)
        media = render.inspect(source, _time_left(remaining_ms), work, _source_limits())
    check_fits(media, job.chunk_seconds, deployment().chunk_timeout_seconds, deployment().transcode_timeout_seconds)
    AssetModel(job.asset_id).update(actions=[AssetModel.media.set(media.contract_view())])
    return media.as_dict()


def download_source(job: Job, work: Path) -> Path:
    """The source in the work folder, its size and declared SHA-256 checked while it streams in. A
    connection that breaks mid-body is StorageUnavailable (retried), never a verdict on the file."""
    source = job.source
    args = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id:
        args["VersionId"] = source.version_id
    try:
        body = aws.client("s3").get_object(**args)["Body"]
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "NoSuchVersion"):
            raise AssetGone("the uploaded file is gone (deleted while it waited)") from error
        raise  # a transient failure is named StorageUnavailable at the handler's edge
    cut_short = fault_due("probe:cut-read", job.asset_id)  # the body breaks mid-stream (FAULT_INJECTION)
    target = work / "source"
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for chunk in body.iter_chunks(chunk_size=4 * 1024 * 1024 if not cut_short else 64 * 1024):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
            if cut_short:
                body.close()
                raise IncompleteReadError(actual_bytes=size, expected_bytes=source.size)
    if size != source.size:
        raise SourceMismatch(f"the object is {size} bytes; the upload declared {source.size}", code="SizeMismatch")
    if source.sha256 and digest.hexdigest() != source.sha256:
        raise SourceMismatch("the object's SHA-256 differs from the one the upload declared", code="ChecksumMismatch")
    return target


# -- plan ----------------------------------------------------------------------------------------


def plan(job: Job) -> dict[str, Any]:
    """The ladder, and the chunks when the video is longer than the job's chunk length."""
    _set_step(job.asset_id, "planning")
    return plan_ladder(job.described(), job.chunk_seconds, deployment().passthrough).as_dict()


# -- transcode -----------------------------------------------------------------------------------


def transcode(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """All renditions from one FFmpeg process. Segments go to the media bucket as FFmpeg writes them,
    and the asset becomes playable once every rung has its first (reelstack.pipeline.progressive)."""
    _set_step(job.asset_id, "transcoding")
    inject_fault("transcode", job.asset_id)
    the_plan = job.planned()
    keys = MediaKeys(job.asset_id)
    with work_folder() as work:
        source = download_source(job, work)
        out = work / "hls"
        out.mkdir()
        publisher = progressive.LadderPublisher(job, the_plan, out)
        try:
            made = render.encode_ladder(source, job.described(), the_plan, out, _time_left(remaining_ms), publisher)
            stall_if_due("stall:hls", job.asset_id)  # a slow step, for the race tests (FAULT_INJECTION)
            uploaded = publisher.finish(made.progress)
        except AssetGone:
            raise
        except Exception:
            # Segments went up while FFmpeg ran: if the asset went meanwhile, they go too (AssetGone).
            progressive.fence(job.asset_id, keys.hls_prefix)
            raise
    return _ladder(keys, the_plan, uploaded, [warning.as_dict() for warning in made.warnings], made.ffmpeg_seconds)


def _ladder(keys: MediaKeys, the_plan: Plan, objects: int, warnings: list[dict[str, str]], seconds: float) -> dict:
    """What Publish gets from the video branch, in one piece or in chunks: ``{master, renditions}``."""
    return {
        "master": keys.master_playlist,
        "renditions": [
            {
                "name": rendition.name,
                "width": rendition.width,
                "height": rendition.height,
                "bitrate": rendition.bandwidth,
                "codecs": rendition.codecs,
                "playlist": keys.media_playlist(rendition.name),
                **({"passthrough": rendition.passthrough} if rendition.passthrough else {}),
            }
            for rendition in the_plan.renditions
        ],
        "objects": objects,
        "warnings": warnings,
        "ffmpegSeconds": round(seconds, 3),
    }


# -- chunked encoding: a Map over the plan's chunks, the audio beside it, then the join ------------


SOURCE_URL_SECONDS = 3600  # longer than any chunk may run


def encode_chunk(job: Job, index: int, remaining_ms: RemainingMs) -> dict[str, Any]:
    """One chunk of every rendition. FFmpeg reads only the chunk's part of the source (HTTP range
    requests on a presigned GET); the segments go to the media bucket under their global numbers and
    the chunk's report (each rendition's segments and durations) under ``work/`` for the join, in one
    fenced upload. A retry encodes the same chunk again and overwrites the same keys."""
    _set_step(job.asset_id, "transcoding")
    inject_fault("transcode", job.asset_id)  # once per asset: the chunk it strikes is retried alone
    the_plan = job.planned()
    chunk = the_plan.chunks[index]
    keys = MediaKeys(job.asset_id)
    with work_folder() as work:
        out = work / "asset"
        hls = out / keys.hls_prefix.removeprefix(keys.prefix)
        hls.mkdir(parents=True)
        made, segments = render.encode_chunk(
            _source_url(job), job.described(), the_plan, chunk, hls, _time_left(remaining_ms)
        )
        report = {
            "index": index,
            "segments": segments,
            "objects": len(made.files),
            "warnings": [warning.as_dict() for warning in made.warnings],
            "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
        }
        report_path = out / keys.chunk_report(index).removeprefix(keys.prefix)
        report_path.parent.mkdir(parents=True)
        report_path.write_text(json.dumps(report))
        upload_outputs(job.asset_id, out, keys.prefix)
    progressive.chunk_done(job, index)
    return {"chunk": index, "objects": report["objects"], "ffmpegSeconds": report["ffmpegSeconds"]}


def encode_audio(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """The audio of chunked video, once, as its own rendition; nothing for a silent video."""
    keys = MediaKeys(job.asset_id)
    with work_folder() as work:
        hls = work / "hls"
        hls.mkdir()
        made = render.encode_audio(_source_url(job), job.described(), job.planned(), hls, _time_left(remaining_ms))
        uploaded = upload_outputs(job.asset_id, hls, keys.hls_prefix) if made.files else 0
    progressive.audio_done(job)
    return {"objects": uploaded, "ffmpegSeconds": round(made.ffmpeg_seconds, 3)}


def join_chunks(job: Job, audio: dict[str, Any] | None) -> dict[str, Any]:
    """Each rendition's media playlist from its chunks' segments and the master playlist; the chunk
    reports go. Publish gets the same ``{master, renditions}`` as from the one-piece transcode."""
    the_plan = job.planned()
    keys = MediaKeys(job.asset_id)
    reports = [get_document(keys.chunk_report(chunk.index)) for chunk in the_plan.chunks]
    warnings = list({warning["code"]: warning for report in reports for warning in report["warnings"]}.values())
    with work_folder() as work:
        hls = work / "hls"
        render.join_chunks(the_plan, [report["segments"] for report in reports], hls)
        uploaded = upload_outputs(job.asset_id, hls, keys.hls_prefix)
    delete_prefix(keys.work_prefix)
    objects = uploaded + sum(report["objects"] for report in reports) + int((audio or {}).get("objects") or 0)
    seconds = sum(report["ffmpegSeconds"] for report in reports) + float((audio or {}).get("ffmpegSeconds") or 0)
    return _ladder(keys, the_plan, objects, warnings, seconds)


def _source_url(job: Job) -> str:
    """A presigned GET of the source's version, for FFmpeg to read in ranges."""
    params = {"Bucket": job.source.bucket, "Key": job.source.key}
    if job.source.version_id:
        params["VersionId"] = job.source.version_id
    return aws.presigning_s3().generate_presigned_url("get_object", Params=params, ExpiresIn=SOURCE_URL_SECONDS)


# -- thumbnails and previews (extras: what cannot be made from the file is a warning) ----------------


Maker = Callable[[Path, MediaInfo, Path, render.SecondsLeft], render.Made]


def _make(job: Job, remaining_ms: RemainingMs, folder: str, prefix: str, maker: Maker) -> tuple[render.Made, int]:
    """Download the source, let ``maker(source, media, out, seconds_left)`` write into a work folder,
    upload what it wrote under ``prefix``; returns what was made and how many objects went up."""
    media = job.described()
    with work_folder() as work:
        source = download_source(job, work)
        out = work / folder
        out.mkdir()
        made = maker(source, media, out, _time_left(remaining_ms))
        stall_if_due(f"stall:{folder}", job.asset_id)  # a slow step, for the race tests (FAULT_INJECTION)
        uploaded = upload_outputs(job.asset_id, out, prefix)
    return made, uploaded


def thumbnails(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """A poster (one seek, else the first frame that decodes) and a storyboard sprite with its WebVTT."""
    keys = MediaKeys(job.asset_id)
    # The extras' branch starts here (previews come after): it lets the first segments go first, once.
    progressive.yield_until_playable(job.asset_id, deployment().extras_yield_seconds)
    made, _ = _make(job, remaining_ms, "thumbnails", keys.thumbnails_prefix, render.make_thumbnails)
    return {
        "poster": keys.poster,
        **({"storyboard": {"image": keys.storyboard_image, "vtt": keys.storyboard_vtt}}
           if "storyboard.jpg" in made.files else {}),
        "warnings": [warning.as_dict() for warning in made.warnings],
        "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
    }  # fmt: skip


def previews(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """A muted preview MP4 that feeds autoplay, and an animated WebP of the same moment."""
    keys = MediaKeys(job.asset_id)
    made, _ = _make(job, remaining_ms, "previews", keys.previews_prefix, render.make_previews)
    return {
        "video": keys.preview_video if "preview.mp4" in made.files else None,
        "animated": keys.preview_animated if "preview.webp" in made.files else None,
        "bytes": made.files,
        "warnings": [warning.as_dict() for warning in made.warnings],
        "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
    }


# -- publish -------------------------------------------------------------------------------------


def publish_ready(job: Job) -> dict[str, Any]:
    """The asset becomes ready with its ladder and whatever extras were made; each extra that could
    not be made is a warning on it (the Parallel state's Catch hands over the extra's error)."""
    outputs = job.encoded()
    hls, pictures = outputs.hls, outputs.pictures
    media = job.described()
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
    asset = AssetModel(job.asset_id)
    asset.update(actions=actions)  # loads the record as it is now
    progressive.announce_playable(job)  # asset.playable always comes first (a no-op if it has)
    asset.status = AssetStatus.READY  # the view as the move below makes it
    view = asset_view(asset)
    ready = events.event(
        EventType.ASSET_READY,
        job.asset_id,
        job.owner_id,
        playback=view.get("playback"),
        thumbnails=view.get("thumbnails"),
        previews=view.get("previews"),
        renditions=view.get("renditions"),
        media=media.contract_view(),
        **({"warnings": warnings} if warnings else {}),
    )
    moved = assets.move(job.asset_id, AssetStatus.READY, announcing=ready)
    if moved:
        events.publish(ready)
    asset = AssetModel.get(job.asset_id, consistent_read=True)
    # Made public while it was processing: in the feed from now on. After asset.ready, so that a retry
    # of this step (a failed write here) cannot lose the announcement: a repeat lists it all the same.
    sharing.list_in_feed(job.asset_id)
    return {"assetId": job.asset_id, "status": asset.status, "announced": moved, "warnings": warnings}


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


# -- helpers -------------------------------------------------------------------------------------


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
    after, so between the two, nothing this step wrote survives (see failures.record_failure)."""
    keys = upload_folder(folder, prefix)
    progressive.fence(asset_id, prefix)
    return len(keys)


def _source_limits() -> MediaLimits:
    """The media limits, with the deployment's MaxSourceSeconds as the longest video."""
    return MediaLimits(max_duration_seconds=deployment().max_source_seconds)


def _time_left(remaining_ms: RemainingMs) -> render.SecondsLeft:
    """Seconds FFmpeg may still use: the invocation's remaining time less what the upload needs
    (UPLOAD_MARGIN_SECONDS, or a quarter of the time for a short function, such as a chunk's)."""
    margin = min(UPLOAD_MARGIN_SECONDS, remaining_ms() / 1000 * UPLOAD_MARGIN_SHARE)
    return lambda: remaining_ms() / 1000 - margin


def _set_step(asset_id: str, step: str) -> None:
    conditional(
        lambda: AssetModel(asset_id).update(
            actions=[AssetModel.step.set(step), AssetModel.updated_at.set(utc_now())],
            condition=AssetModel.status == AssetStatus.PROCESSING,
        ),
        "the asset",
    )
