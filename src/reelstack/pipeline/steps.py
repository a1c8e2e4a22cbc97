"""The pipeline's steps, one function per Task state of ``statemachines/pipeline.asl.json``, named
after it (Probe source, Plan renditions, Transcode HLS ladder, Publish; the chunked encoding's steps
are in :mod:`reelstack.pipeline.chunked`, the extras' in :mod:`reelstack.pipeline.extras`), and the
helpers they share (the work folder, the source, the uploads, the time left).

Each takes the job (reelstack.pipeline.job) and returns what the state machine stores under the
step's key. Every step may run more than once (Retry, duplicate events): they overwrite the same
keys and move the asset's status only forward, with conditions, so a repeated step never announces
anything twice.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, IncompleteReadError

from reelstack import aws, sharing
from reelstack.config import deployment
from reelstack.errors import AssetGone, SourceMismatch
from reelstack.media import boxes, fmp4, render
from reelstack.media.budget import check_fits
from reelstack.media.hls import playlist_init, playlist_segments
from reelstack.media.ladder import Plan, plan_ladder
from reelstack.media.limits import MediaLimits
from reelstack.media.loudness import Target
from reelstack.pipeline import progressive
from reelstack.pipeline.faults import fault_due, inject_fault, stall_if_due
from reelstack.pipeline.job import Job
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import get_bytes, get_text, upload_folder
from reelstack.store.records import AssetModel, conditional, utc_now
from reelstack.store.states import AssetStatus
from reelstack.store.views import asset_view
from reelstack.wire import as_wire

RemainingMs = Callable[[], int]
log = logging.getLogger(__name__)
UPLOAD_MARGIN_SECONDS = 20  # kept back from FFmpeg's timeout to upload its output
UPLOAD_MARGIN_SHARE = 0.25  # ... or this share of the time a short function has


# -- probe source ---------------------------------------------------------------------------------------


def probe_source(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """Check the object's size against its declaration, then describe it from its header (a phone's
    MP4/MOV) or whole; nothing is decoded yet."""
    processing = events.event(EventType.ASSET_PROCESSING, job.asset_id, job.owner_id, step="probing")
    if assets.move(job.asset_id, AssetStatus.PROCESSING, step="probing", announcing=processing):
        events.publish(processing)
    else:
        set_step(job.asset_id, "probing")
    inject_fault("probe", job.asset_id)
    with work_folder() as work:
        copy = header_copy(job, work)
        source = copy or download_source(job, work)
        media = render.inspect(source, time_left(remaining_ms), work, _source_limits(), header_copy=copy is not None)
    check_fits(media, job.chunk_seconds, deployment().chunk_timeout_seconds, deployment().transcode_timeout_seconds)
    AssetModel(job.asset_id).update(actions=[AssetModel.media.set(media.contract_view())])
    return media.as_dict()


def header_copy(job: Job, work: Path) -> Path | None:
    """A plain MP4/MOV's boxes without its media data, at their places in a sparse file as long as the
    object (reelstack.media.boxes): what the probe reads of it, from a few range requests instead of
    the whole file, so the encode starts seconds sooner for a long video. The size is checked here, the
    declared SHA-256 beside the encode (Verify source). None for any other layout, or a file too small
    to bother: it is read whole."""
    source = job.source
    if source.size <= HEADER_READ_BYTES:
        return None
    if fault_due("probe:cut-read", job.asset_id):  # the body breaks mid-stream (FAULT_INJECTION)
        raise IncompleteReadError(actual_bytes=0, expected_bytes=HEADER_READ_BYTES)
    target = work / "source"
    try:
        return target if boxes.write_header_copy(_RangeReader(job).read, source.size, target) else None
    except _ShorterThanDeclared:
        return None  # the whole read names the size it has


HEADER_READ_BYTES = 256 * 1024  # the first read: the ftyp, and the moov of a short video put first


class _ShorterThanDeclared(Exception):
    pass


class _RangeReader:
    """Range requests on the source's version; the first one's bytes are kept and served again."""

    def __init__(self, job: Job) -> None:
        self.source, self.s3 = job.source, aws.client("s3")
        self.head = self._get(0, HEADER_READ_BYTES)

    def read(self, offset: int, length: int) -> bytes:
        if offset + length <= len(self.head):
            return self.head[offset : offset + length]
        return self._get(offset, length)

    def _get(self, offset: int, length: int) -> bytes:
        args = {"Bucket": self.source.bucket, "Key": self.source.key, "Range": f"bytes={offset}-{offset + length - 1}"}
        if self.source.version_id:
            args["VersionId"] = self.source.version_id
        try:
            answer = self.s3.get_object(**args)
        except ClientError as error:
            if aws.error_code(error) in ("NoSuchKey", "NoSuchVersion"):
                raise AssetGone("the uploaded file is gone (deleted while it waited)") from error
            if aws.error_code(error) == "InvalidRange":
                raise _ShorterThanDeclared from error
            raise
        total = int(str(answer.get("ContentRange", "/0")).rpartition("/")[2] or 0)
        _check_size(total, self.source.size)
        return answer["Body"].read()


def _check_size(size: int, declared: int) -> None:
    if size != declared:
        raise SourceMismatch(f"the object is {size} bytes; the upload declared {declared}", code="SizeMismatch")


def download_source(job: Job, work: Path) -> Path:
    """The source in the work folder, its size and declared SHA-256 checked while it streams in."""
    target = work / "source"
    with target.open("wb") as out:
        read_source(job, out.write)
    return target


def read_source(job: Job, sink: Callable[[bytes], object] = lambda _: None) -> None:
    """The whole source through ``sink``, checked against the upload's size and SHA-256 as it streams.
    A connection that breaks mid-body is StorageUnavailable (retried), never a verdict on the file."""
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
    digest, size = hashlib.sha256(), 0
    for chunk in body.iter_chunks(chunk_size=4 * 1024 * 1024 if not cut_short else 64 * 1024):
        digest.update(chunk)
        size += len(chunk)
        sink(chunk)
        if cut_short:
            body.close()
            raise IncompleteReadError(actual_bytes=size, expected_bytes=source.size)
    _check_size(size, source.size)
    if source.sha256 and digest.hexdigest() != source.sha256:
        raise SourceMismatch("the object's SHA-256 differs from the one the upload declared", code="ChecksumMismatch")


SOURCE_URL_SECONDS = 3600  # longer than any encode may run


def source_url(job: Job) -> str:
    """A presigned GET of the source's version, for FFmpeg to read as it goes (in ranges where it seeks):
    the encode starts at once, with no download of the whole file before it."""
    params = {"Bucket": job.source.bucket, "Key": job.source.key}
    if job.source.version_id:
        params["VersionId"] = job.source.version_id
    return aws.presigning_s3().generate_presigned_url("get_object", Params=params, ExpiresIn=SOURCE_URL_SECONDS)


# -- verify source -------------------------------------------------------------------------------


def verify_source(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """The whole source against the SHA-256 its upload declared (Probe source checked its size, and the
    encode reads the source as it goes), beside the encode once the first segments are out:
    ChecksumMismatch fails the asset, whose segments then go (Record failure). Nothing to read when
    none was declared."""
    if not job.source.sha256:
        return {"verified": False}
    progressive.yield_for_first_segments(job.asset_id, remaining_ms)
    read_source(job)
    return {"verified": True}


# -- plan ----------------------------------------------------------------------------------------


def plan(job: Job) -> dict[str, Any]:
    """The ladder, and the chunks when the video is longer than the job's chunk length; the audio is
    evened out to the deployment's target when the upload asked for it (normalizeAudio)."""
    set_step(job.asset_id, "planning")
    settings = deployment()
    target = Target(settings.loudness_target_lufs, settings.true_peak_ceiling_dbtp) if job.normalize_audio else None
    return plan_ladder(job.described(), job.chunk_seconds, settings.passthrough, target).as_dict()


# -- transcode -----------------------------------------------------------------------------------


def transcode(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """All renditions from one FFmpeg process. Segments go to the media bucket as FFmpeg writes them,
    and the asset becomes playable once every rung has its first (reelstack.pipeline.progressive)."""
    set_step(job.asset_id, "transcoding")
    inject_fault("transcode", job.asset_id)
    the_plan = job.planned()
    keys = MediaKeys(job.asset_id)
    with work_folder() as work:
        out = work / "hls"
        out.mkdir()
        publisher = progressive.LadderPublisher(job, the_plan, out)
        try:
            made = render.encode_ladder(
                source_url(job), job.described(), the_plan, out, time_left(remaining_ms), publisher
            )
            stall_if_due("stall:hls", job.asset_id)  # a slow step, for the race tests (FAULT_INJECTION)
            uploaded = publisher.finish(made.progress)
        except AssetGone:
            raise
        except Exception:
            # Segments went up while FFmpeg ran: if the asset went meanwhile, they go too (AssetGone).
            progressive.fence(job.asset_id, keys.hls_prefix)
            raise
    return ladder_outputs(
        keys, the_plan, uploaded, [warning.as_dict() for warning in made.warnings], made.ffmpeg_seconds, made.loudness
    )


def ladder_outputs(
    keys: MediaKeys,
    the_plan: Plan,
    objects: int,
    warnings: list[dict[str, str]],
    seconds: float,
    loudness: dict[str, Any] | None = None,
) -> dict:
    """What Publish gets from the video branch, in one piece or in chunks: ``{master, renditions}``,
    the audio tracks kept and the audio's loudness (``media.loudness``)."""
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
        "audioTracks": [as_wire(audio) for audio in the_plan.audio_renditions],
        **({"loudness": loudness} if loudness else {}),
        "objects": objects,
        "warnings": the_plan.warnings() + warnings,
        "ffmpegSeconds": round(seconds, 3),
    }


# -- publish -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extras:
    """What the derivatives made beside the ladder, as Publish writes it (reelstack.derivatives.published):
    asset record fields (name -> value) and warnings, one for each that could not be made."""

    fields: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)


def publish(job: Job, extras: Extras | None = None) -> dict[str, Any]:
    """The asset becomes ready with its ladder and whatever extras were made; each extra that could
    not be made is a warning on it (the Map's Catch hands over the extra's error)."""
    hls, extras = job.encoded().hls, extras or Extras()
    media = job.described()
    warnings = list(hls.get("warnings") or []) + extras.warnings
    media_view = {**media.contract_view(), **({"loudness": hls["loudness"]} if hls.get("loudness") else {})}
    actions = [
        AssetModel.renditions.set(hls["renditions"]),
        AssetModel.hls.set({"master": hls["master"], "timelineSeconds": timeline_start(hls["renditions"])}),
        AssetModel.media.set(media_view),
        AssetModel.audio_tracks.set(embedded_audio_tracks(hls.get("audioTracks") or [])),
    ]
    actions += [getattr(AssetModel, name).set(value) for name, value in extras.fields.items()]
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
        **({"downloads": view["downloads"]} if view.get("downloads") else {}),
        media=media_view,
        **({"tracks": view["tracks"]} if view.get("tracks") else {}),
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


def timeline_start(renditions: list[dict[str, Any]]) -> float:
    """When the video's first frame is shown on its segments' timeline (seconds): two frames in for an
    encode with B-frames (0.0667 s at 30 fps), the chunks' 1 s more for video encoded in chunks, the
    source's own delay for a copied one. Captions are
    put on it (``X-TIMESTAMP-MAP``, reelstack.media.captions); read from the smallest rendition's
    first segment (a few kilobytes)."""
    playlist_key = renditions[-1]["playlist"] if renditions else None
    text = get_text(playlist_key) if playlist_key else None
    segments = playlist_segments(text or "")
    if not text or not segments:
        return 0.0
    folder = playlist_key.rsplit("/", 1)[0] + "/"
    init, first = get_bytes(folder + playlist_init(text)), get_bytes(folder + segments[0][0])
    try:
        return round(fmp4.presentation_start(init or b"", first or b""), 6)
    except fmp4.Fmp4Error as error:
        log.warning("the timeline of %s could not be read: %s", playlist_key, error)
        return 0.0


def embedded_audio_tracks(renditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The asset's ``tracks`` entries of the source's own audio (the contract's shape): each kept track
    that has a language or a name of its own; a single untagged track says nothing worth a track."""
    tagged = [audio for audio in renditions if audio.get("language") or len(renditions) > 1]
    return [
        {
            "trackId": audio["name"],
            "type": "audio",
            "languageCode": audio.get("language") or "und",
            "name": audio["label"],
            **({"kind": audio["kind"]} if audio.get("kind") else {}),
            "source": "embedded",
            "status": "ready",
            "default": bool(audio.get("default")),
        }
        for audio in tagged
    ]


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


def time_left(remaining_ms: RemainingMs) -> render.SecondsLeft:
    """Seconds FFmpeg may still use: the invocation's remaining time less what the upload needs
    (UPLOAD_MARGIN_SECONDS, or a quarter of the time for a short function, such as a chunk's)."""
    margin = min(UPLOAD_MARGIN_SECONDS, remaining_ms() / 1000 * UPLOAD_MARGIN_SHARE)
    return lambda: remaining_ms() / 1000 - margin


def set_step(asset_id: str, step: str) -> None:
    conditional(
        lambda: AssetModel(asset_id).update(
            actions=[AssetModel.step.set(step), AssetModel.updated_at.set(utc_now())],
            condition=AssetModel.status == AssetStatus.PROCESSING,
        ),
        "the asset",
    )
