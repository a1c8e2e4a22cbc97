"""The cover the owner picks (``PATCH /assets/{id}`` with ``posterTime``): the poster becomes the
frame shown at that moment, rendered from the one segment that holds it, of the smallest rendition
at least as large as a poster (never the whole source). It goes under a key of its own per moment,
so a CDN or a link preview that kept the old picture is never served a new one under the old name.
"""

from __future__ import annotations

from typing import Any

from reelstack.derivatives.recipe import Derivative, Needs, State, published_ladder, ready_asset, rendition_segments
from reelstack.errors import AssetGone, Conflict, InvalidInput
from reelstack.media import ffmpeg, hls
from reelstack.pipeline.steps import RemainingMs, time_left, work_folder
from reelstack.store import events
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix, join_objects, upload_files
from reelstack.store.records import AssetModel, Change, utc_now
from reelstack.store.states import AssetStatus
from reelstack.store.views import plain


def check_poster_time(asset: AssetModel, seconds: float) -> None:
    """A moment the video has a picture at: 409 before it is ready, 400 without a picture or past its end."""
    media = plain(asset.media)
    if asset.status != AssetStatus.READY:
        raise Conflict(f"the asset is {asset.status}: pick its cover once it is ready", code="AssetNotReady")
    if not media.get("hasVideo"):
        raise InvalidInput("posterTime: this file is sound only, it has no picture to pick", code="NoPicture")
    duration = float(media.get("durationSeconds") or 0)
    if seconds >= duration:
        raise InvalidInput(f"posterTime: {seconds:g} s is past the end of the video ({duration:g} s)",
                           code="InvalidPosterTime")  # fmt: skip


def segment_at(segments: list[hls.Segment], seconds: float) -> tuple[str, float]:
    """The segment that shows the moment ``seconds`` and how far into it the moment is (the last
    segment for a moment at its very end)."""
    start = 0.0
    for name, length in segments:
        if seconds < start + length:
            return name, seconds - start
        start += length
    name, length = segments[-1]
    return name, max(0.0, length - 0.001)


class Cover(Derivative):
    def refusal(self, has_video: bool, has_audio: bool) -> str | None:
        return None if has_video else "this file is sound only: there is no picture"

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        asset_id = state["assetId"]
        asset = ready_asset(asset_id)
        if asset.poster_time is None:
            raise InvalidInput("no cover was picked", code="InvalidPosterTime")
        seconds = float(asset.poster_time)
        keys = MediaKeys(asset_id)
        variants, _ = published_ladder(keys)
        pictures = [variant for variant in variants if variant.height]
        large = [v for v in pictures if max(v.width, v.height) >= ffmpeg.POSTER_LONG_SIDE] or pictures[:1]
        chosen = large[-1]  # the smallest that is large enough, else the largest there is
        init, segments = rendition_segments(keys, chosen.playlist)
        segment, offset = segment_at(segments, seconds)
        width, height = ffmpeg.fit(chosen.width, chosen.height, ffmpeg.POSTER_LONG_SIDE)
        key = f"{keys.thumbnails_prefix}poster-{round(seconds * 1000)}.jpg"
        with work_folder() as work:
            joined, out = work / "segment.mp4", work / "poster.jpg"
            join_objects([init, segment], joined)
            ffmpeg.run(ffmpeg.still_command(joined, offset, chosen.frame_rate, width, height, "preserve", "jpg", out),
                       time_left(remaining_ms)(), work, "render the cover")  # fmt: skip
            upload_files([(out, key)])
        updated = events.event(EventType.ASSET_UPDATED, asset_id, state["ownerId"], changes={"thumbnails": ["poster"]},
                               posterTime=seconds)  # fmt: skip
        # Only if that is still the moment picked (a later pick renders its own) and the asset is still ready.
        condition = (AssetModel.status == AssetStatus.READY) & (AssetModel.poster_time == asset.poster_time)
        actions = [AssetModel.updated_at.set(utc_now())]
        if asset.thumbnails is None:  # none were made (NoThumbnails): the picked cover is the poster
            actions.append(AssetModel.thumbnails.set({"poster": key}))
            condition &= AssetModel.thumbnails.does_not_exist()
        else:
            actions.append(AssetModel.thumbnails["poster"].set(key))
            condition &= AssetModel.thumbnails.exists()
        if not events.record(updated, Change(AssetModel(asset_id), actions, condition), "the asset"):
            delete_prefix(key)
            raise AssetGone("the asset changed while its cover was made; a later pick renders its own")
        events.publish(updated)
        return {"poster": key, "posterTime": seconds}

    def failed(self, state: State) -> dict[str, Any]:
        """The old poster stays (the picked moment was checked when it was picked)."""
        return {"name": self.name, "error": state["error"]}


COVER = Cover(
    name="cover", needs=Needs.LADDER, makes={"poster-<ms>.jpg": "image/jpeg"}, view_field="thumbnails",
    warning="NoCover", requested=True,
)  # fmt: skip
DERIVATIVES = (COVER,)
