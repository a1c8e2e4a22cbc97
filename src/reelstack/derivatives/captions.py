"""Caption and subtitle tracks of an asset (issue 29): files the owner adds, and the source's own text
subtitle tracks, each a ``tracks`` entry ``{trackId, type: "text", languageCode, name, kind, source,
status, error?}`` and, once ready, a WebVTT rendition of the asset's HLS (reelstack.api.playback).

- ``POST /assets/{id}/tracks`` with ``content`` reads the captions at once (reelstack.media.captions):
  ready, or a 400 that says why and nothing stored. With ``filename`` the answer carries a presigned
  PUT to the upload bucket (``captions/<owner>/<asset>/<track>``); the file's arrival (an S3 event
  the Ingest function hands over) is read the same way, and the track becomes ready or failed.
  Either way only the clean WebVTT is kept (``assets/<id>/tracks/<track>.vtt``), never the file as sent.
- The source's text subtitle tracks (mov_text, SubRip, ASS, WebVTT) are a derivative made beside the
  ladder (:data:`EMBEDDED`): extracted by FFmpeg as WebVTT, then read like any file. Bitmap subtitles
  (PGS, DVB, DVD) cannot become text: each is a warning on the asset that says so.
- ``DELETE /assets/{id}/tracks/{trackId}`` removes a text track. A track added or removed after the
  asset is ready is in the next master playlist a player loads; nothing is encoded again.

Each track that becomes ready or failed is announced (``asset.track.ready`` / ``asset.track.failed``
with ``trackId`` and the entry); a removed one with ``asset.updated`` (``changes: {tracks: [id]}``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstack import aws
from reelstack.bodies import AddTrack
from reelstack.config import deployment
from reelstack.derivatives.recipe import Derivative, Needs, State, from_source
from reelstack.errors import AssetGone, Conflict, InvalidCaptions, NotFound
from reelstack.ids import derived_id, new_track_id
from reelstack.media import captions, ffmpeg, render
from reelstack.media.probe import MediaInfo
from reelstack.media.tracks import SubtitleTrack, language_code, language_name
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import RemainingMs
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.keys import CaptionUploadKey, MediaKeys, is_track_id
from reelstack.store.objects import delete_every_version, delete_prefix, get_bytes, put_texts
from reelstack.store.records import AssetModel, Change, commit, utc_now
from reelstack.store.states import AssetStatus
from reelstack.store.views import plain, text_tracks, track_view

MAX_TEXT_TRACKS = 20  # per asset: each is a menu entry in every player
UPLOAD_URL_SECONDS = 3600


class TrackStatus:
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"


def duration_of(asset: AssetModel) -> float | None:
    """The video's length once the probe has read it (captions are cut to it); None before."""
    seconds = plain(asset.media).get("durationSeconds")
    return float(seconds) if seconds else None


# -- adding, arriving, removing ----------------------------------------------------------------------


def add_track(owner_id: str, asset_id: str, read_request: Callable[[], AddTrack]) -> dict[str, Any]:
    """``POST /assets/{id}/tracks``: the track, ready (``content``) or preparing with its ``uploadUrl``.
    The body is read once the asset is known to be the caller's (someone else's: 404 whatever it says)."""
    asset = assets.owned_asset(owner_id, asset_id)
    request = read_request()
    if asset.status == AssetStatus.FAILED:
        raise Conflict("the asset failed: there is no video to add captions to", code="AssetFailed")
    if len(text_tracks(asset)) >= MAX_TEXT_TRACKS:
        raise Conflict(f"the asset has {MAX_TEXT_TRACKS} text tracks already; delete one first", code="TooManyTracks")
    language = language_code(request.language_code) or request.language_code.lower()
    track_id = new_track_id()
    entry = {
        "type": "text", "languageCode": language, "name": request.name or language_name(language),
        "kind": request.kind or "subtitles", "source": "uploaded", "createdAt": utc_now(),
    }  # fmt: skip
    if request.content is None:
        entry["status"] = TrackStatus.PREPARING
        if not record(asset_id, owner_id, track_id, entry):
            raise NotFound(f"nothing called {asset_id!r} here", code="AssetNotFound")
        key = CaptionUploadKey(owner_id, asset_id, track_id)
        url = aws.presigning_s3().generate_presigned_url(
            "put_object", Params={"Bucket": deployment().upload_bucket, "Key": str(key)}, ExpiresIn=UPLOAD_URL_SECONDS
        )
        return {**track_view(track_id, entry), "uploadUrl": url, "uploadMethod": "PUT"}
    cleaned = captions.read_captions(request.content, duration_of(asset))  # a 400 before anything is stored
    entry["status"] = TrackStatus.READY
    store(asset_id, owner_id, track_id, entry, cleaned)
    return track_view(track_id, entry)


def caption_arrived(bucket: str, key: str, size: int) -> dict[str, Any]:
    """A caption file came through its presigned PUT: read it, keep the clean WebVTT (or record why it
    cannot be), and remove the file as sent."""
    where = CaptionUploadKey.parse(key)
    try:
        asset = assets.read_consistent(where.asset_id)
        entry = text_tracks(asset).get(where.track_id) if asset and asset.owner_id == where.owner_id else None
        if entry is None or entry.get("status") != TrackStatus.PREPARING:
            return {"trackId": where.track_id, "ignored": "no such track is waiting for its file"}
        try:
            captions.check_file_size(size)
            cleaned = captions.read_captions(get_bytes(key, bucket) or b"", duration_of(asset))
        except InvalidCaptions as error:
            failed = {**entry, "status": TrackStatus.FAILED, "error": {"code": error.code, "message": error.message}}
            record(where.asset_id, where.owner_id, where.track_id, failed, EventType.ASSET_TRACK_FAILED, present=True)
            return {"trackId": where.track_id, "status": TrackStatus.FAILED, "code": error.code}
        try:
            store(where.asset_id, where.owner_id, where.track_id, {**entry, "status": TrackStatus.READY}, cleaned,
                   present=True)  # fmt: skip
        except AssetGone:
            return {"trackId": where.track_id, "ignored": "the track was removed while its file was read"}
        return {"trackId": where.track_id, "status": TrackStatus.READY, "cues": len(cleaned.cues)}
    finally:
        delete_every_version(bucket, key, exact=True)  # the upload bucket is versioned: the file as sent goes


def delete_track(owner_id: str, asset_id: str, track_id: str) -> None:
    """``DELETE /assets/{id}/tracks/{trackId}``: a text track and its WebVTT go."""
    asset = assets.owned_asset(owner_id, asset_id)
    if any(plain(track).get("trackId") == track_id for track in asset.audio_tracks or []):
        raise Conflict("an audio track is part of the video's encode and cannot be removed", code="TrackNotRemovable")
    if not is_track_id(track_id) or track_id not in text_tracks(asset):
        raise NotFound(f"the asset has no track {track_id[:32]!r}", code="TrackNotFound")
    updated = events.event(EventType.ASSET_UPDATED, asset_id, owner_id, changes={"tracks": [track_id]})
    change = Change(
        AssetModel(asset_id),
        [AssetModel.text_tracks[track_id].remove(), AssetModel.updated_at.set(utc_now())],
        AssetModel.text_tracks[track_id].exists(),
    )
    if not events.record(updated, change, "the asset"):
        raise NotFound(f"the asset has no track {track_id!r}", code="TrackNotFound")  # removed meanwhile
    delete_prefix(MediaKeys(asset_id).text_track(track_id))
    events.publish(updated)


def store(
    asset_id: str, owner_id: str, track_id: str, entry: dict[str, Any], cleaned: captions.Captions,
    present: bool = False,
) -> None:  # fmt: skip
    """Keep the clean WebVTT, then record the track ready; if the asset (or the track) went meanwhile,
    the WebVTT goes too."""
    key = MediaKeys(asset_id).text_track(track_id)
    put_texts({key: cleaned.webvtt()})
    if not record(asset_id, owner_id, track_id, entry, EventType.ASSET_TRACK_READY, present=present):
        delete_prefix(key)
        raise AssetGone("the asset (or the track) was deleted while its captions were read")


def record(
    asset_id: str, owner_id: str, track_id: str, entry: dict[str, Any],
    announce: EventType | None = None, present: bool = False,
) -> bool:  # fmt: skip
    """Write one text track's entry (and announce it); False if the asset is gone, or with ``present``
    if the track was removed meanwhile."""
    for _ in range(3):
        asset = assets.read_consistent(asset_id)
        if asset is None or asset.status == AssetStatus.DELETED:
            return False
        condition = AssetModel.status != AssetStatus.DELETED
        if asset.text_tracks is None:  # DynamoDB sets a map's entries only once the map is there
            if present:
                return False
            actions = [AssetModel.text_tracks.set({track_id: entry})]
            condition &= AssetModel.text_tracks.does_not_exist()
        else:
            actions = [AssetModel.text_tracks[track_id].set(entry)]
            condition &= AssetModel.text_tracks[track_id].exists() if present else AssetModel.text_tracks.exists()
        change = Change(AssetModel(asset_id), [*actions, AssetModel.updated_at.set(utc_now())], condition)
        announced = announce and events.event(announce, asset_id, owner_id, trackId=track_id,
                                              track=track_view(track_id, entry))  # fmt: skip
        if announced and events.record(announced, change, "the asset"):
            events.publish(announced)
            return True
        if not announced and commit(change, "the asset"):
            return True
        if present:
            refreshed = assets.read_consistent(asset_id)
            if refreshed is None or track_id not in text_tracks(refreshed):
                return False
    raise Conflict("the asset kept changing while its track was recorded; send it again", code="AssetBusy")


# -- the source's own subtitle tracks -------------------------------------------------------------------


def embedded_track_id(asset_id: str, stream: int) -> str:
    """The same id for the same stream of the same asset, so that a retried step overwrites its tracks."""
    return "t" + derived_id(asset_id, "embedded-subtitles", str(stream))[:12]


@dataclass(frozen=True)
class EmbeddedCaptions(Derivative):
    """The source's text subtitle tracks as text tracks of the asset, each with its language and title."""

    def wanted(self, media: MediaInfo) -> bool:
        return bool(media.subtitle_tracks)

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        job = Job.from_state(state)
        media = job.described()
        text = [track for track in media.subtitle_tracks if track.text]
        warnings = [_bitmap_warning(track) for track in media.subtitle_tracks if not track.text]
        made: list[tuple[SubtitleTrack, captions.Captions]] = []
        if text:

            def extract(source: Path, _: MediaInfo, out: Path, seconds_left: render.SecondsLeft) -> render.Made:
                ffmpeg.run(ffmpeg.subtitles_command(source, [track.stream for track in text], out), seconds_left(),
                           out, "extract the subtitle tracks")  # fmt: skip
                for track in text:
                    try:
                        made.append((track, captions.read_captions((out / f"{track.stream}.vtt").read_bytes(),
                                                                   media.duration_seconds)))  # fmt: skip
                    except InvalidCaptions as error:
                        warnings.append(
                            {
                                "code": self.warning,
                                "message": f"the subtitle track {track.label} was left out: {error.message}",
                            }
                        )
                    (out / f"{track.stream}.vtt").unlink()  # only the clean WebVTT is kept, below
                return render.Made()

            from_source(job, remaining_ms, "captions", MediaKeys(job.asset_id).prefix, extract)
        created = utc_now()
        for track, cleaned in made:
            entry = {
                "type": "text", "languageCode": track.language or "und", "name": track.label,
                "kind": "captions" if track.hearing_impaired else "subtitles", "source": "embedded",
                "status": TrackStatus.READY, "createdAt": created, "stream": track.stream,
            }  # fmt: skip
            store(job.asset_id, job.owner_id, embedded_track_id(job.asset_id, track.stream), entry, cleaned)
        return {"tracks": len(made), "warnings": warnings}


def _bitmap_warning(track: SubtitleTrack) -> dict[str, str]:
    return {
        "code": "SubtitlesSkipped",
        "message": f"the subtitle track {track.label} is pictures ({track.codec}), not text: it was left out "
        "(add it as an SRT or WebVTT file instead)",
    }


EMBEDDED = EmbeddedCaptions(
    name="captions", needs=Needs.SOURCE, makes={"tracks/<trackId>.vtt": "text/vtt"}, view_field="tracks",
    warning="SubtitlesSkipped",
)  # fmt: skip
DERIVATIVES = (EMBEDDED,)
