"""The thumbnails' commands: the poster (one seek) and the storyboard sprite with its WebVTT cues."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from reelstack.media.ffmpeg.hardened import ffmpeg_command, input_arguments
from reelstack.media.ffmpeg.picture import Target, fit, picture_filter
from reelstack.media.probe import MediaInfo

STORYBOARD_TILE_LONG_SIDE = 160
STORYBOARD_COLUMNS = 10
STORYBOARD_MAX_TILES = 100


@dataclass(frozen=True)
class Storyboard:
    interval_seconds: float
    tile_width: int
    tile_height: int
    columns: int
    count: int

    def vtt(self, image_name: str, duration_seconds: float) -> str:
        """WebVTT cues pointing into the sprite sheet (``image#xywh=x,y,w,h``), as players expect."""
        cues = ["WEBVTT", ""]
        for index in range(self.count):
            start = index * self.interval_seconds
            end = min(duration_seconds, start + self.interval_seconds)
            if start >= duration_seconds:
                break
            x, y = (index % self.columns) * self.tile_width, (index // self.columns) * self.tile_height
            cues += [
                f"{_vtt_time(start)} --> {_vtt_time(end)}",
                f"{image_name}#xywh={x},{y},{self.tile_width},{self.tile_height}",
                "",
            ]
        return "\n".join(cues)


def _vtt_time(seconds: float) -> str:
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def plan_storyboard(duration_seconds: float, width: int, height: int) -> Storyboard:
    # A last stretch shorter than a tenth of a second (audio that outlasts the picture) gets no tile.
    span = max(duration_seconds - 0.1, 0.001)
    interval = float(max(1, math.ceil(span / STORYBOARD_MAX_TILES)))
    count = max(1, min(STORYBOARD_MAX_TILES, math.ceil(span / interval)))
    tile_width, tile_height = fit(width, height, STORYBOARD_TILE_LONG_SIDE)
    return Storyboard(interval, tile_width, tile_height, min(STORYBOARD_COLUMNS, count), count)


POSTER_LONG_SIDE = 1280


def poster_command(source: Path, media: MediaInfo, at_seconds: float, out: Path) -> list[str]:
    """One frame, found by seeking (not decoding from the start), at most 1280 on the long side.
    With ``at_seconds`` 0 it is the first frame that decodes (the fallback when the seek finds none)."""
    width, height = fit(media.width, media.height, POSTER_LONG_SIDE)
    return ffmpeg_command(
        *input_arguments(source, seek=at_seconds), "-map", f"0:{media.video_stream}", "-frames:v", "1",
        "-vf", picture_filter(media, width, height, Target.JPEG), "-q:v", "3", str(out),
    )  # fmt: skip


def storyboard_command(source: Path, media: MediaInfo, board: Storyboard, out: Path) -> list[str]:
    """The sprite sheet. From keyframes only (``-skip_frame nokey``, no full decode) when they are at
    least as frequent as the tiles; otherwise every frame is decoded, so that a clip with one keyframe
    (or a long GOP) still shows a different picture on every tile instead of one picture repeated."""
    rows = math.ceil(board.count / board.columns)
    keyframes_only = 0 < media.max_keyframe_gap_seconds <= board.interval_seconds
    chain = picture_filter(media, board.tile_width, board.tile_height, Target.JPEG, fps=f"1/{board.interval_seconds}")
    return ffmpeg_command(
        *(["-skip_frame", "nokey"] if keyframes_only else []), *input_arguments(source),
        # Exactly one picture per cue: the fps filter's count at the end depends on rounding, so
        # the last picture is repeated to fill, and anything past the last cue is dropped.
        "-map", f"0:{media.video_stream}",
        "-vf", f"{chain},tpad=stop_mode=clone:stop={board.count},trim=end_frame={board.count},"
               f"tile={board.columns}x{rows}",
        "-frames:v", "1", "-q:v", "4", str(out),
    )  # fmt: skip
