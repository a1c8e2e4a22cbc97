"""What a source may be, checked before anything is decoded: the containers the pipeline opens, the
limits on size, rate, length and streams, and what makes a file truncated."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from reelstack.errors import MediaLimitExceeded, UnsupportedMedia
from reelstack.media import identify
from reelstack.media.packets import StreamPackets

# Demuxers the pipeline opens (ffmpeg's -format_whitelist). Playlists (hls), scripts (concat), SDP,
# images (image2, png_pipe...) and raw formats are not on it: that is what stops the classic SSRF and
# local-file tricks of "videos" that are really playlists or concat scripts. AVI's embedded subtitle
# streams (GAB2) are opened through the same list, so a playlist hidden in an AVI is refused too.
ALLOWED_DEMUXERS = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "mpegts",
    "avi",
    "mpeg",  # MPEG program streams (.mpg, .vob): MPEG-2 from camcorders and DVDs
    "mp3",
    "aac",
    "wav",
    "ogg",
    "flac",
)
# A stream's header may promise a little more than its packets hold (rounding, an encoder's last
# frame); a file is called truncated only past this share of what was promised.
TRUNCATION_TOLERANCE = 0.98


@dataclass(frozen=True)
class MediaLimits:
    max_duration_seconds: float = 3 * 3600
    max_long_side: int = 4096
    max_pixels: int = 4096 * 2304
    max_streams: int = 16
    max_fps: float = 240  # phones record slow motion at 240 fps; renditions are at most 60


def frame_rate(text: str | None) -> Fraction:
    try:
        return Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def rotation_of(stream: dict[str, Any]) -> int:
    """Degrees clockwise, to the nearest quarter turn (players, and FFmpeg's autorotate, know no other)."""
    degrees = 0.0
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            # The display matrix says counter-clockwise degrees; players turn clockwise by its negation.
            degrees = -float(side_data["rotation"])
            break
    else:
        try:
            degrees = float((stream.get("tags") or {}).get("rotate", 0))
        except ValueError:
            degrees = 0.0
    return round(degrees / 90) * 90 % 360


def cut_short(what: str) -> UnsupportedMedia:
    return UnsupportedMedia(
        f"the file is truncated: {what} its header promises (was the upload or the recording cut short?)",
        code="Truncated",
    )


def check_whole(stream: dict[str, Any], kind: str, packets: StreamPackets | None) -> None:
    """Truncated: fewer packets, or a shorter span, than the stream's header promises."""
    if packets is None:
        raise cut_short(f"its {kind} stream has no packets")
    promised_frames = int(stream.get("nb_frames") or 0)
    # PCM audio counts samples as its "frames", not packets: only its duration says anything.
    is_pcm = str(stream.get("codec_name", "")).startswith("pcm_")
    if promised_frames and not is_pcm and packets.count < promised_frames * TRUNCATION_TOLERANCE - 1:
        raise cut_short(f"its {kind} stream has {packets.count} of the {promised_frames} frames")
    promised_seconds = float(stream.get("duration") or 0)
    if promised_seconds > 1 and 0 < packets.extent < promised_seconds * TRUNCATION_TOLERANCE - 0.1:
        raise cut_short(f"its {kind} stops at {packets.extent:.1f} s of the {promised_seconds:.1f} s")


def check_picture(video: dict[str, Any], limits: MediaLimits) -> None:
    """Size and frame rate within the limits, from the stream's header alone."""
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if max(width, height) > limits.max_long_side or width * height > limits.max_pixels:
        shown = f"{height}x{width}" if rotation_of(video) in (90, 270) else f"{width}x{height}"
        raise MediaLimitExceeded(
            f"the picture is {shown}; at most {limits.max_long_side} pixels on the long side and "
            f"{limits.max_pixels / 1e6:.1f} megapixels are accepted",
            code="ResolutionTooHigh",
        )
    fps = frame_rate(video.get("avg_frame_rate")) or frame_rate(video.get("r_frame_rate"))
    if fps > limits.max_fps:
        raise MediaLimitExceeded(
            f"the video runs at {float(fps):.0f} frames a second; at most {limits.max_fps:.0f} are accepted",
            code="FrameRateTooHigh",
        )


def check_length(seconds: float, limits: MediaLimits) -> None:
    if seconds > limits.max_duration_seconds:
        raise MediaLimitExceeded(
            f"the video is {seconds / 60:.0f} minutes long; at most {limits.max_duration_seconds / 60:.0f} minutes "
            "are accepted",
            code="TooLong",
        )


def check_header(probe: dict[str, Any], limits: MediaLimits) -> None:
    """What the header alone can refuse, before the packet scan reads the whole file: the container,
    the number of streams, every moving picture's size and rate, a header that promises too long."""
    file_format = probe.get("format") or {}
    container = file_format.get("format_name", "")
    streams = probe.get("streams") or []
    if not container:
        raise identify.UNKNOWN.refusal()
    if container not in ALLOWED_DEMUXERS:
        raise identify.by_demuxer(container).refusal()
    # A phone's HEIC or AVIF photo is an MP4-like file that the MP4 demuxer opens: its brand says so.
    picture = identify.by_brand(str((file_format.get("tags") or {}).get("major_brand", "")))
    if picture is not None:
        raise picture.refusal()
    if len(streams) > limits.max_streams:
        raise MediaLimitExceeded(
            f"the file has {len(streams)} streams; at most {limits.max_streams} are accepted", code="TooManyStreams"
        )
    for stream in streams:
        if stream.get("codec_type") == "video" and not (stream.get("disposition") or {}).get("attached_pic"):
            check_picture(stream, limits)
    check_length(float(file_format.get("duration") or 0), limits)  # what the header promises
