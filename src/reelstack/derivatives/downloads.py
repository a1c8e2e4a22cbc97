"""Downloads: an MP4 a phone's gallery, a messenger or QuickTime opens, or the sound alone (M4A), made
from a published rendition's own segments by stream copy: never a second encode, so a download costs
seconds of I/O, not minutes of CPU. Off by default (storage costs money): asked for in ``POST
/uploads`` (``downloads``) or later with ``POST /assets/{id}/downloads``.

Each is an entry of the asset's ``downloads`` (``preparing`` -> ``ready`` | ``failed``, with a
sentence); ``asset.updated`` says when one is ready or failed.

The limit: Lambda's ``/tmp`` holds at most 10 GB (EphemeralStorage 10240 MB). The joined segments and
the MP4 made of them are on disk at once (faststart rewrites the MP4 in place), so a rendition may
weigh at most 4.5 GB: about 2 h of the 1080p rung at its 5 Mbit/s, more than a phone's clip and
most uploads; a longer one gets a ``failed`` entry that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reelstack.derivatives.recipe import Derivative, Needs, State, published_ladder, ready_asset, rendition_segments
from reelstack.errors import AssetGone, MediaLimitExceeded
from reelstack.media import ffmpeg, hls
from reelstack.pipeline.failures import failure_from_state_error
from reelstack.pipeline.steps import RemainingMs, time_left, work_folder
from reelstack.store import events
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import bytes_of, delete_prefix, join_objects, upload_files
from reelstack.store.records import AssetModel, Change, utc_now
from reelstack.store.states import AssetStatus
from reelstack.store.views import plain

GIB = 1024**3
MAX_RENDITION_BYTES = int(4.5 * GIB)  # of /tmp's 10 GiB: the joined rendition and its MP4, with a margin


class DownloadStatus:
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Mp4Download(Derivative):
    """A download of one rendition: the largest whose shorter side is at most ``short_side`` (the
    smallest if none is), with its sound; or the sound alone (``sound_only``)."""

    short_side: int = 1080
    sound_only: bool = False

    def refusal(self, has_video: bool, has_audio: bool) -> str | None:
        if self.sound_only:
            return None if has_audio else "this video has no sound"
        return None if has_video else "this file is sound only: there is no picture (ask for audio)"

    def asked(self, asset: AssetModel) -> bool:
        return plain(plain(asset.downloads).get(self.name)).get("status") == DownloadStatus.PREPARING

    def refuse(self, asset_id: str, owner_id: str, reason: str) -> None:
        record(asset_id, owner_id, self.name, failed_entry(reason))

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        asset_id, owner_id = state["assetId"], state["ownerId"]
        ready_asset(asset_id)
        keys = MediaKeys(asset_id)
        variants, audio_playlist = published_ladder(keys)
        pictures = [variant for variant in variants if variant.height]
        chosen = None if self.sound_only else self._rendition(pictures)
        # The sound: its own rendition, else the smallest video rendition's (every rung carries the same).
        sound = audio_playlist or (None if chosen else variants[-1].playlist)
        parts = {"video": _segments(keys, chosen.playlist) if chosen else [],
                 "audio": _segments(keys, sound) if sound else []}  # fmt: skip
        weight = bytes_of(parts["video"] + parts["audio"])
        if weight > MAX_RENDITION_BYTES:
            raise MediaLimitExceeded(
                f"too long for a download: its rendition weighs {weight / GIB:.1f} GB, and a download is "
                f"made on a 10 GB disk that holds it twice (at most {MAX_RENDITION_BYTES / GIB:.1f} GB)",
                code="DownloadTooLarge",
            )
        key = keys.download(self.file_name)
        with work_folder() as work:
            joined = {}
            for kind, segment_keys in parts.items():
                if segment_keys:
                    joined[kind] = work / f"{kind}.mp4"
                    join_objects(segment_keys, joined[kind])
            out = work / self.file_name
            ffmpeg.run(ffmpeg.remux_command(joined.get("video"), joined.get("audio"), out),
                       time_left(remaining_ms)(), work, f"make the {self.name} download")  # fmt: skip
            size = out.stat().st_size
            upload_files([(out, key)])
        entry = {"status": DownloadStatus.READY, "key": key, "bytes": size,
                 **({"width": chosen.width, "height": chosen.height} if chosen else {})}  # fmt: skip
        if not record(asset_id, owner_id, self.name, entry, only_ready=True):
            delete_prefix(key)  # deleted meanwhile: nothing of it stays
            raise AssetGone("the asset was deleted while its download was made")
        return {"name": self.name, "bytes": size}

    def failed(self, state: State) -> dict[str, Any]:
        code, message = failure_from_state_error(state["error"])
        record(state["assetId"], state["ownerId"], self.name, failed_entry(message))
        return {"name": self.name, "failed": code}

    @property
    def file_name(self) -> str:
        return f"{self.name}.{'m4a' if self.sound_only else 'mp4'}"

    def _rendition(self, pictures: list[hls.Variant]) -> hls.Variant:
        fitting = [variant for variant in pictures if min(variant.width, variant.height) <= self.short_side]
        return fitting[0] if fitting else pictures[-1]


def _segments(keys: MediaKeys, playlist: str) -> list[str]:
    """A rendition's init segment and segments, in order, as media bucket keys."""
    init, segments = rendition_segments(keys, playlist)
    return [init] + [key for key, _ in segments]


def failed_entry(message: str) -> dict[str, Any]:
    return {"status": DownloadStatus.FAILED, "message": message}


def record(asset_id: str, owner_id: str, name: str, entry: dict[str, Any], only_ready: bool = False) -> bool:
    """Write one download's entry and announce it (``asset.updated``); False if the asset is gone (or
    no longer ready, with ``only_ready``)."""
    updated = events.event(
        EventType.ASSET_UPDATED, asset_id, owner_id, changes={"downloads": [name]},
        download={"name": name, **{field: value for field, value in entry.items() if field != "key"}},
    )  # fmt: skip
    condition = AssetModel.status == AssetStatus.READY if only_ready else AssetModel.status != AssetStatus.DELETED
    actions = [AssetModel.downloads[name].set(entry), AssetModel.updated_at.set(utc_now())]
    if not events.record(updated, Change(AssetModel(asset_id), actions, condition), "the asset"):
        return False
    events.publish(updated)
    return True


HIGHEST = Mp4Download(
    name="highest", needs=Needs.LADDER, makes={"highest.mp4": "video/mp4"}, view_field="downloads",
    warning="DownloadFailed", requested=True, short_side=1080,
)  # fmt: skip
AUDIO = Mp4Download(
    name="audio", needs=Needs.LADDER, makes={"audio.m4a": "audio/mp4"}, view_field="downloads",
    warning="DownloadFailed", requested=True, sound_only=True,
)  # fmt: skip
SMALL = Mp4Download(
    name="small", needs=Needs.LADDER, makes={"small.mp4": "video/mp4"}, view_field="downloads",
    warning="DownloadFailed", requested=True, short_side=480,
)  # fmt: skip
DERIVATIVES = (HIGHEST, AUDIO, SMALL)
