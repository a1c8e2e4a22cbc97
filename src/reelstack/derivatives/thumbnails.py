"""Thumbnails: a poster (a seek, else the first frame that decodes) and a storyboard (a sprite sheet
and its WebVTT), made from the source beside the ladder. One derivative for both: they read the same
source, and the storyboard's failure alone is its own warning (NoStoryboard, reelstack.media.render)."""

from __future__ import annotations

from typing import Any

from reelstack.config import deployment
from reelstack.derivatives.recipe import Derivative, Needs, State, from_source
from reelstack.media import render
from reelstack.pipeline import progressive
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import RemainingMs
from reelstack.store.keys import MediaKeys


class Thumbnails(Derivative):
    def refusal(self, has_video: bool, has_audio: bool) -> str | None:
        return None if has_video else "audio only: there is no picture"

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        job = Job.from_state(state)
        keys = MediaKeys(job.asset_id)
        # Made beside the ladder: the first segments go first, once (on a shared machine).
        progressive.yield_until_playable(job.asset_id, deployment().extras_yield_seconds)
        made = from_source(job, remaining_ms, "thumbnails", keys.thumbnails_prefix, render.make_thumbnails)
        return {
            "poster": keys.poster,
            **({"storyboard": {"image": keys.storyboard_image, "vtt": keys.storyboard_vtt}}
               if "storyboard.jpg" in made.files else {}),
            "warnings": [warning.as_dict() for warning in made.warnings],
            "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
        }  # fmt: skip

    def stored(self, result: dict[str, Any]) -> Any:
        return {key: result[key] for key in ("poster", "storyboard") if key in result}


THUMBNAILS = Thumbnails(
    name="thumbnails",
    needs=Needs.SOURCE,
    makes={"poster.jpg": "image/jpeg", "storyboard.jpg": "image/jpeg", "storyboard.vtt": "text/vtt"},
    view_field="thumbnails",
    warning="NoThumbnails",
)
DERIVATIVES = (THUMBNAILS,)
