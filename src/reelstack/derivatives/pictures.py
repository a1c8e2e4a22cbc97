"""Pictures on demand: ``thumbnail.{jpg,webp,png}?time=&width=&height=&fit=`` and
``animated.{webp,gif}?start=&end=&width=&fps=``. Each is rendered once, by the Derive function, from
the segment (or the few segments) of the smallest rendition that is large enough, never from the
source, and kept under a key made of its normalised parameters: the same picture asked for again is
a redirect to what is stored. The bounds keep a render within the API's 29 s (an animation is at most
10 s, 640 px wide, 24 fps: a few segments of a rendition that small).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from reelstack.derivatives.recipe import Derivative, Needs, State, published_ladder, ready_asset, rendition_segments
from reelstack.errors import InvalidInput, NotFound
from reelstack.media import ffmpeg, hls
from reelstack.pipeline.steps import RemainingMs, time_left, work_folder
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import join_objects, upload_files

MAX_SIDE = 1920
MAX_ANIMATED_SECONDS = 10.0
MAX_ANIMATED_WIDTH = 640
# Slack on the time bounds: 0.351 + 10 is 10.350999... in floating point, and a window from 0.351 to
# 10.351 (or one ending at the video's end as a client rounds it) must pass.
BOUND_SLACK_SECONDS = 0.001
MAX_FPS = 24
DEFAULT_FPS = 10
DEFAULT_ANIMATED_SECONDS = 3.0
DEFAULT_ANIMATED_WIDTH = 320
STILLS = ("jpg", "webp", "png")
ANIMATIONS = ("webp", "gif")
_PARAMETERS = {"thumbnail": {"time", "width", "height", "fit"}, "animated": {"start", "end", "width", "fps"}}


@dataclass(frozen=True)
class Picture:
    """One picture, its parameters normalised (seconds to the millisecond, sizes whole)."""

    kind: str  # thumbnail | animated
    format: str
    time: float = 0.0
    start: float = 0.0
    end: float = 0.0
    width: int | None = None
    height: int | None = None
    fit: str = "preserve"
    fps: int = DEFAULT_FPS

    @property
    def file_name(self) -> str:
        size = f"w{self.width or 0}"
        if self.kind == "thumbnail":
            return f"thumbnail-t{self.time:.3f}-{size}-h{self.height or 0}-{self.fit}.{self.format}"
        return f"animated-s{self.start:.3f}-e{self.end:.3f}-{size}-f{self.fps}.{self.format}"

    def as_state(self) -> dict[str, Any]:
        return asdict(self)


def parse(file: str, query: Mapping[str, str], duration: float) -> Picture:
    """``thumbnail.jpg`` (...) and its query -> a :class:`Picture`; NotFound for a file that is no
    picture, InvalidInput (400, ``InvalidPictureParameter``) naming what is wrong."""
    kind, _, extension = file.partition(".")
    if kind not in _PARAMETERS or extension not in (STILLS if kind == "thumbnail" else ANIMATIONS):
        raise NotFound(f"no picture is called {file[:64]!r}: thumbnail.jpg|webp|png, animated.webp|gif")
    unknown = sorted(set(query) - _PARAMETERS[kind])
    if unknown:
        _refuse(f"{kind} takes {', '.join(sorted(_PARAMETERS[kind]))}, not {', '.join(unknown)}")
    if kind == "thumbnail":
        fit = query.get("fit", "preserve")
        if fit not in ffmpeg.FITS:
            _refuse(f"fit: one of {', '.join(ffmpeg.FITS)}, not {fit[:32]!r}")
        moment = _seconds(query, "time", min(duration * 0.1, 3.0))
        _within(moment, duration, "time")
        return Picture(kind, extension, time=moment, width=_size(query, "width", MAX_SIDE),
                       height=_size(query, "height", MAX_SIDE), fit=fit)  # fmt: skip
    start = _seconds(query, "start", 0.0)
    _within(start, duration, "start")
    end = _seconds(query, "end", min(duration, start + DEFAULT_ANIMATED_SECONDS))
    if not start < end <= start + MAX_ANIMATED_SECONDS + BOUND_SLACK_SECONDS:
        _refuse(f"end: after start ({start:g} s) and at most {MAX_ANIMATED_SECONDS:g} s after it, not {end:g} s")
    if end > duration + BOUND_SLACK_SECONDS:
        _refuse(f"end: {end:g} s is past the end of the video ({duration:g} s)")
    fps = _size(query, "fps", MAX_FPS) or DEFAULT_FPS
    return Picture(kind, extension, start=start, end=end, width=_size(query, "width", MAX_ANIMATED_WIDTH), fps=fps)


def _refuse(message: str) -> None:
    raise InvalidInput(message, code="InvalidPictureParameter")


def _seconds(query: Mapping[str, str], name: str, default: float) -> float:
    if name not in query:
        return round(default, 3)
    try:
        value = float(query[name])
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        _refuse(f"{name}: seconds from the start, 0 or more, not {query[name][:32]!r}")
    return round(value, 3)


def _within(moment: float, duration: float, name: str) -> None:
    if moment >= duration:
        _refuse(f"{name}: {moment:g} s is past the end of the video ({duration:g} s)")


def _size(query: Mapping[str, str], name: str, largest: int) -> int | None:
    if name not in query:
        return None
    text = query[name]
    if not text.isdigit() or not 1 <= int(text) <= largest:
        _refuse(f"{name}: a whole number from 1 to {largest}, not {text[:32]!r}")
    return int(text)


def _rendition(variants: list[hls.Variant], width: int | None, height: int | None) -> hls.Variant:
    """The smallest rendition at least ``width`` x ``height`` (either may be None), else the largest."""
    pictures = [variant for variant in variants if variant.height]
    if not pictures:
        raise InvalidInput("this file is sound only: there is no picture", code="NoPicture")
    large = [v for v in pictures if v.width >= (width or 0) and v.height >= (height or 0)]
    return large[-1] if large else pictures[0]


def _covering(segments: list[hls.Segment], start: float, end: float) -> tuple[list[str], float]:
    """The segments that show ``start`` to ``end`` (at least one), and ``start`` from the first's beginning."""
    chosen, offset, at = [], 0.0, 0.0
    for name, length in segments:
        if at + length > start and at < max(end, start + 0.001):
            if not chosen:
                offset = start - at
            chosen.append(name)
        at += length
    return (chosen, offset) if chosen else ([segments[-1][0]], 0.0)


class Pictures(Derivative):
    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        picture = Picture(**state["picture"])
        keys = MediaKeys(ready_asset(state["assetId"]).asset_id)
        variants, _ = published_ladder(keys)
        if picture.kind == "thumbnail":
            chosen = _rendition(variants, picture.width, picture.height)
            end = picture.time
        else:
            chosen = _rendition(variants, picture.width or DEFAULT_ANIMATED_WIDTH, None)
            end = picture.end
        init, segments = rendition_segments(keys, chosen.playlist)
        start = picture.time if picture.kind == "thumbnail" else picture.start
        needed, offset = _covering(segments, start, end)
        key = keys.picture(picture.file_name)
        with work_folder() as work:
            joined, out = work / "segments.mp4", work / picture.file_name
            join_objects([init, *needed], joined)
            if picture.kind == "thumbnail":
                command = ffmpeg.still_command(joined, offset, chosen.frame_rate, picture.width, picture.height,
                                               picture.fit, picture.format, out)  # fmt: skip
            else:
                width = picture.width or min(DEFAULT_ANIMATED_WIDTH, chosen.width)
                command = ffmpeg.animated_clip_command(joined, offset, picture.end - picture.start, width,
                                                       picture.fps, picture.format, out)  # fmt: skip
            ffmpeg.run(command, time_left(remaining_ms)(), work, f"render {picture.kind}.{picture.format}")
            upload_files([(out, key)])
        return {"key": key}


PICTURES = Pictures(
    name="picture", needs=Needs.LADDER, view_field="pictures", warning="NoPicture", requested=True,
    makes={"thumbnail-*.jpg": "image/jpeg", "thumbnail-*.webp": "image/webp", "thumbnail-*.png": "image/png",
           "animated-*.webp": "image/webp", "animated-*.gif": "image/gif"},
)  # fmt: skip
DERIVATIVES = (PICTURES,)
