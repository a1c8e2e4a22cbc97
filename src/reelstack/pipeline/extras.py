"""The extras' steps: Make thumbnails (a poster and a storyboard) and Make previews (a muted MP4 and an
animated WebP). What cannot be made from the file becomes a warning on the asset, never a failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reelstack.config import deployment
from reelstack.media import render
from reelstack.media.probe import MediaInfo
from reelstack.pipeline import progressive
from reelstack.pipeline.faults import stall_if_due
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import (
    RemainingMs,
    download_source,
    time_left,
    upload_outputs,
    work_folder,
)
from reelstack.store.keys import MediaKeys

Maker = Callable[[Path, MediaInfo, Path, render.SecondsLeft], render.Made]


def _make(job: Job, remaining_ms: RemainingMs, folder: str, prefix: str, maker: Maker) -> tuple[render.Made, int]:
    """Download the source, let ``maker(source, media, out, seconds_left)`` write into a work folder,
    upload what it wrote under ``prefix``; returns what was made and how many objects went up."""
    media = job.described()
    with work_folder() as work:
        source = download_source(job, work)
        out = work / folder
        out.mkdir()
        made = maker(source, media, out, time_left(remaining_ms))
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
