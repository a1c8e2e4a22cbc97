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
    picture, encoding = _preview_video(media)
    return ffmpeg_command(
        *input_arguments(source, seek=start), "-t", f"{length:.3f}", "-map", f"0:{media.video_stream}",
        "-vf", picture, *encoding, str(out),
    )  # fmt: skip


def animated_command(source: Source, media: MediaInfo, out: Path) -> list[str]:
    """An animated WebP of the same moment, for places that cannot play video."""
    start, length = preview_window(media.duration_seconds, ANIMATED_SECONDS)
    picture, encoding = _animated(media)
    return ffmpeg_command(
        *input_arguments(source, seek=start), "-t", f"{length:.3f}", "-map", f"0:{media.video_stream}",
        "-vf", picture, *encoding, str(out),
    )  # fmt: skip


def previews_command(source: Source, media: MediaInfo, video: Path, animated: Path) -> list[str] | None:
    """Both previews from one decode of their moment (decoding a 1080p source is most of their cost),
    where both start at the same moment (videos over about 5 s); None otherwise."""
    start, video_seconds = preview_window(media.duration_seconds, PREVIEW_SECONDS)
    animated_start, animated_seconds = preview_window(media.duration_seconds, ANIMATED_SECONDS)
    if animated_start != start:
        return None
    (video_picture, video_encoding), (animated_picture, animated_encoding) = _preview_video(media), _animated(media)
    graph = (
        f"[0:{media.video_stream}]split=2[video][animated];[video]{video_picture}[v];[animated]{animated_picture}[a]"
    )
    return ffmpeg_command(
        *input_arguments(source, seek=start), "-filter_complex", graph,
        "-map", "[v]", "-t", f"{video_seconds:.3f}", *video_encoding, str(video),
        "-map", "[a]", "-t", f"{animated_seconds:.3f}", *animated_encoding, str(animated),
    )  # fmt: skip


def _preview_video(media: MediaInfo) -> tuple[str, list[str]]:
    """The MP4 preview's picture filter and its encoding."""
    width, height = fit(media.width, media.height, PREVIEW_LONG_SIDE)
    return picture_filter(media, width, height, Target.VIDEO, fps=PREVIEW_FPS), [
        "-an", "-c:v", "libx264", "-preset", X264_PRESET, "-profile:v", "main", "-pix_fmt", "yuv420p", *BT709_TAGS,
        "-crf", "30", "-maxrate", str(PREVIEW_MAX_BITRATE), "-bufsize", str(PREVIEW_MAX_BITRATE),
        "-movflags", "+faststart",
    ]  # fmt: skip


def _animated(media: MediaInfo) -> tuple[str, list[str]]:
    """The animated WebP's picture filter and its encoding."""
    width, height = fit(media.width, media.height, ANIMATED_LONG_SIDE)
    return picture_filter(media, width, height, Target.RGB, fps="10"), [
        "-an", "-c:v", "libwebp_anim", "-quality", "50", "-loop", "0",
    ]  # fmt: skip
