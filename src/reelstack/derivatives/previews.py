"""Previews: a muted MP4 that feeds autoplay, and an animated WebP of the same moment, made from
the source beside the ladder."""

from __future__ import annotations

from typing import Any

from reelstack.derivatives.recipe import Derivative, Needs, State, from_source
from reelstack.media import render
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import RemainingMs
from reelstack.store.keys import MediaKeys


class Previews(Derivative):
    def refusal(self, has_video: bool, has_audio: bool) -> str | None:
        return None if has_video else "audio only: there is no picture"

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        job = Job.from_state(state)
        keys = MediaKeys(job.asset_id)
        made = from_source(job, remaining_ms, "previews", keys.previews_prefix, render.make_previews)
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
