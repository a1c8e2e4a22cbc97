"""What a source file is, from ffprobe's JSON, checked against limits before anything is decoded."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from reelstack.errors import MediaLimitExceeded, UnsupportedMedia

# Demuxers the pipeline opens (ffmpeg's -format_whitelist). Playlists (hls), scripts (concat),
# images (image2, png_pipe...) and raw formats are not on it: that is what stops the classic
# SSRF and local-file tricks of "videos" that are really playlists or concat scripts.
ALLOWED_DEMUXERS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mp3", "aac", "wav", "ogg", "flac")
IMAGE_CODECS = frozenset({"png", "mjpeg", "jpeg2000", "bmp", "gif", "webp", "tiff", "apng", "heif", "av1_image"})


@dataclass(frozen=True)
class MediaLimits:
    max_duration_seconds: float = 3 * 3600
    max_long_side: int = 4096
    max_pixels: int = 4096 * 2304
    max_streams: int = 16
    max_fps: float = 240  # phones record slow motion at 240 fps; renditions are at most 60


@dataclass(frozen=True)
class MediaInfo:
    duration_seconds: float
    has_video: bool
    has_audio: bool
    width: int = 0  # as displayed: rotation applied
    height: int = 0
    rotation: int = 0  # degrees clockwise the player must turn the coded picture
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: str | None = None  # rational, e.g. "30000/1001"
    variable_frame_rate: bool = False
    audio_channels: int = 0
    container: str = ""
    bitrate: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})

    @property
    def fps(self) -> Fraction:
        return Fraction(self.frame_rate) if self.frame_rate else Fraction(0)

    def contract_view(self) -> dict[str, Any]:
        """The contract's ``media`` object."""
        return {
            "durationSeconds": round(self.duration_seconds, 3),
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "videoCodec": self.video_codec,
            "audioCodec": self.audio_codec,
            "hasAudio": self.has_audio,
            "hasVideo": self.has_video,
            "frameRate": round(float(self.fps), 3) if self.has_video else None,
        }


def _rate(text: str | None) -> Fraction:
    try:
        return Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _rotation(stream: dict[str, Any]) -> int:
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            # The display matrix says counter-clockwise degrees; players turn clockwise by its negation.
            return int(-float(side_data["rotation"])) % 360
    return int(float((stream.get("tags") or {}).get("rotate", 0))) % 360


def _is_picture(stream: dict[str, Any]) -> bool:
    disposition = stream.get("disposition") or {}
    return bool(disposition.get("attached_pic")) or stream.get("codec_name") in IMAGE_CODECS


def describe(probe: dict[str, Any], limits: MediaLimits = MediaLimits()) -> MediaInfo:
    """``ffprobe -show_format -show_streams`` JSON -> :class:`MediaInfo`, or a named error."""
    container = (probe.get("format") or {}).get("format_name", "")
    streams = probe.get("streams") or []
    if not container or container not in ALLOWED_DEMUXERS:
        raise UnsupportedMedia(f"not a video or audio file (container {container or 'unknown'!r})", code="NotMedia")
    if len(streams) > limits.max_streams:
        raise MediaLimitExceeded(f"{len(streams)} streams; at most {limits.max_streams}", code="TooManyStreams")
    videos = [s for s in streams if s.get("codec_type") == "video" and not _is_picture(s)]
    pictures = [s for s in streams if s.get("codec_type") == "video" and _is_picture(s)]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos and not audios:
        if pictures:
            raise UnsupportedMedia("the file holds only still images, no video or audio", code="ImageOnly")
        raise UnsupportedMedia("the file has no video or audio stream", code="NoMediaStreams")

    for stream in videos + audios:
        promised, read = int(stream.get("nb_frames") or 0), int(stream.get("nb_read_packets") or 0)
        if promised and read < promised * 0.98:
            raise UnsupportedMedia(
                f"the file is truncated: its {stream.get('codec_type')} stream has {read} of {promised} frames",
                code="Truncated",
            )

    duration = float((probe.get("format") or {}).get("duration") or 0)
    if duration <= 0:
        duration = max((float(s.get("duration") or 0) for s in videos + audios), default=0.0)
    if duration <= 0:
        raise UnsupportedMedia("the file's duration cannot be read (truncated?)", code="UnreadableDuration")
    if duration > limits.max_duration_seconds:
        raise MediaLimitExceeded(f"{duration:.0f} s long; at most {limits.max_duration_seconds:.0f} s", code="TooLong")

    info: dict[str, Any] = {
        "duration_seconds": duration,
        "has_video": bool(videos),
        "has_audio": bool(audios),
        "container": container,
        "bitrate": int(float((probe.get("format") or {}).get("bit_rate") or 0)),
    }
    if audios:
        info["audio_codec"] = audios[0].get("codec_name")
        info["audio_channels"] = int(audios[0].get("channels") or 0)
    if videos:
        video = videos[0]
        coded_width, coded_height = int(video.get("width") or 0), int(video.get("height") or 0)
        if coded_width <= 0 or coded_height <= 0:
            raise UnsupportedMedia("the video stream has no picture size (truncated?)", code="UnreadableVideo")
        rotation = _rotation(video)
        width, height = (coded_height, coded_width) if rotation in (90, 270) else (coded_width, coded_height)
        if max(width, height) > limits.max_long_side or width * height > limits.max_pixels:
            raise MediaLimitExceeded(
                f"{width}x{height}; at most {limits.max_long_side} on the long side and {limits.max_pixels} pixels",
                code="ResolutionTooHigh",
            )
        average, nominal = _rate(video.get("avg_frame_rate")), _rate(video.get("r_frame_rate"))
        fps = average or nominal
        if fps <= 0:
            raise UnsupportedMedia("the video's frame rate cannot be read", code="UnreadableVideo")
        if fps > limits.max_fps:
            raise MediaLimitExceeded(f"{float(fps):.0f} fps; at most {limits.max_fps:.0f}", code="FrameRateTooHigh")
        info.update(
            width=width,
            height=height,
            rotation=rotation,
            video_codec=video.get("codec_name"),
            frame_rate=f"{fps.numerator}/{fps.denominator}",
            variable_frame_rate=bool(nominal) and abs(float(nominal - average)) > 0.01 * float(nominal),
        )
    return MediaInfo(**info)
