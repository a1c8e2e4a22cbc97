"""The previews' commands: a short muted MP4 that feeds autoplay, and an animated WebP of the same moment."""

from __future__ import annotations

from pathlib import Path

from reelstack.media.ffmpeg.encode import X264_PRESET
from reelstack.media.ffmpeg.hardened import Source, ffmpeg_command, input_arguments
from reelstack.media.ffmpeg.picture import BT709_TAGS, Target, fit, picture_filter
from reelstack.media.probe import MediaInfo

PREVIEW_SECONDS = 4.0
PREVIEW_FPS = "24"
PREVIEW_LONG_SIDE = 480
PREVIEW_MAX_BYTES = 400_000  # what a feed can autoplay on a phone without a thought
# The bitrate cap that keeps a preview under PREVIEW_MAX_BYTES, with a quarter kept for the MP4's own bytes.
PREVIEW_MAX_BITRATE = int(PREVIEW_MAX_BYTES * 8 * 0.75 / PREVIEW_SECONDS)
ANIMATED_SECONDS = 3.0
ANIMATED_LONG_SIDE = 320


def preview_window(duration_seconds: float, length: float) -> tuple[float, float]:
    """``(start, length)``: from a quarter in (past intros and titles), inside the video."""
    length = min(length, duration_seconds)
    start = min(duration_seconds * 0.25, max(0.0, duration_seconds - length))
    return start, length


def preview_command(source: Source, media: MediaInfo, out: Path) -> list[str]:
    """A short, muted, small MP4 that phones autoplay inline (H.264 Main, faststart, capped bitrate)."""
    start, length = preview_window(media.duration_seconds, PREVIEW_SECONDS)
    width, height = fit(media.width, media.height, PREVIEW_LONG_SIDE)
    return ffmpeg_command(
        *input_arguments(source, seek=start), "-t", f"{length:.3f}", "-map", f"0:{media.video_stream}",
        "-vf", picture_filter(media, width, height, Target.VIDEO, fps=PREVIEW_FPS), "-an",
        "-c:v", "libx264", "-preset", X264_PRESET, "-profile:v", "main", "-pix_fmt", "yuv420p", *BT709_TAGS,
        "-crf", "30", "-maxrate", str(PREVIEW_MAX_BITRATE), "-bufsize", str(PREVIEW_MAX_BITRATE),
        "-movflags", "+faststart", str(out),
    )  # fmt: skip


def animated_command(source: Source, media: MediaInfo, out: Path) -> list[str]:
    """An animated WebP of the same moment, for places that cannot play video."""
    start, length = preview_window(media.duration_seconds, ANIMATED_SECONDS)
    width, height = fit(media.width, media.height, ANIMATED_LONG_SIDE)
    return ffmpeg_command(
        *input_arguments(source, seek=start), "-t", f"{length:.3f}", "-map", f"0:{media.video_stream}",
        "-vf", picture_filter(media, width, height, Target.RGB, fps="10"), "-an",
        "-c:v", "libwebp_anim", "-quality", "50", "-loop", "0", str(out),
    )  # fmt: skip
