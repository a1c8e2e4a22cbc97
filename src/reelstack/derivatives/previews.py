"""Previews: a muted MP4 that feeds autoplay, and an animated WebP of the same moment, made from
the source beside the ladder."""

from __future__ import annotations

from typing import Any

from reelstack.config import deployment
from reelstack.derivatives.recipe import Derivative, Needs, State, from_source
from reelstack.media import render
from reelstack.pipeline import progressive
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import RemainingMs
from reelstack.store.keys import MediaKeys


class Previews(Derivative):
    def refusal(self, has_video: bool, has_audio: bool) -> str | None:
        return None if has_video else "audio only: there is no picture"

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        job = Job.from_state(state)
        keys = MediaKeys(job.asset_id)
        # Made beside the ladder: the first segments go first, once (on a shared machine). Seconds from a
        # quarter in are all it reads, by range requests: a long video is never downloaded for them.
        progressive.yield_until_playable(job.asset_id, deployment().extras_yield_seconds)
        made = from_source(job, remaining_ms, "previews", keys.previews_prefix, render.make_previews, whole=False)
        return {
            "video": keys.preview_video if "preview.mp4" in made.files else None,
            "animated": keys.preview_animated if "preview.webp" in made.files else None,
            "bytes": made.files,
            "warnings": [warning.as_dict() for warning in made.warnings],
            "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
        }

    def stored(self, result: dict[str, Any]) -> Any:
        return {"video": result["video"], "animated": result["animated"]}


PREVIEWS = Previews(
    name="previews",
    needs=Needs.SOURCE,
    makes={"preview.mp4": "video/mp4", "preview.webp": "image/webp"},
    view_field="previews",
    warning="NoPreviews",
)
DERIVATIVES = (PREVIEWS,)
