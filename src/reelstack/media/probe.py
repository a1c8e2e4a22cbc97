"""What a source file is, from ffprobe, checked against limits before anything is decoded.

Two reads of the file, neither of which decodes a frame: the header (``-show_format -show_streams``)
and a scan of every packet's timestamps and flags (:func:`reelstack.media.ffmpeg.packet_scan_command`).
The scan tells what the header cannot be trusted with: how long the file really is (a browser's
MediaRecorder writes no duration at all), whether it was cut short, and how far apart its keyframes
are (editing apps, messengers and screen recorders write long GOPs; x264's default gives a clip under
about 8 s one keyframe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import Any

from reelstack.errors import MediaLimitExceeded, UnsupportedMedia
from reelstack.media import identify
from reelstack.wire import as_wire, known_fields

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
IMAGE_CODECS = frozenset({"png", "mjpeg", "jpeg2000", "bmp", "gif", "webp", "tiff", "apng", "heif", "av1_image"})
INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})
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


@dataclass
class StreamPackets:
    """What the packet scan saw of one stream."""

    count: int = 0
    start: float | None = None
    end: float | None = None  # the latest timestamp plus that packet's duration
    keyframes: list[float] = field(default_factory=list)

    @property
    def extent(self) -> float:
        return (self.end - self.start) if self.start is not None and self.end is not None else 0.0


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "N/A"
        return None


def parse_packet_scan(csv: str, keyframe_streams: frozenset[int] = frozenset()) -> dict[int, StreamPackets]:
    """``stream_index,pts_time,dts_time,duration_time,flags`` lines -> per-stream packet facts.
    Keyframe times are kept for ``keyframe_streams`` only (an audio stream is all keyframes)."""
    streams: dict[int, StreamPackets] = {}
    for line in csv.splitlines():
        fields = line.split(",")
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        index = int(fields[0])
        stream = streams.setdefault(index, StreamPackets())
        stream.count += 1
        moment = _seconds(fields[1])
        if moment is None:
            moment = _seconds(fields[2])
        if moment is None:
            continue
        stream.start = moment if stream.start is None else min(stream.start, moment)
        stream.end = max(stream.end or moment, moment + (_seconds(fields[3]) or 0.0))
        if index in keyframe_streams and fields[4].startswith("K"):
            stream.keyframes.append(moment)
    return streams


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
    # Which streams the pipeline uses (the default one, else the first), by the file's own stream
    # index (ffmpeg's -map 0:N), not by position among streams of their kind.
    video_stream: int = 0
    audio_stream: int = 0
    audio_streams: int = 0
    # The picture as coded, which decides how it is converted to BT.709 SDR 8-bit 4:2:0.
    pixel_format: str | None = None
    bit_depth: int = 8
    color_range: str = "tv"  # "tv" (limited) or "pc" (full)
    color_matrix: str = "bt709"  # "bt601", "bt709" or "bt2020"
    dynamic_range: str = "sdr"  # "sdr", "hlg" or "pq"
    dolby_vision_profile: int | None = None
    interlaced: bool = False
    keyframe_count: int = 0
    max_keyframe_gap_seconds: float = 0.0  # the longest stretch without a keyframe, end included
    # What decides whether a stream can be kept as it is (reelstack.media.ladder, pass-through).
    video_profile: str | None = None  # ffprobe's words: "High", "Main", "Constrained Baseline"...
    video_level: int = 0  # H.264 level times ten (40 is 4.0)
    video_bitrate: int = 0  # the stream's average, bits per second (0: not known)
    color_tags: str = ""  # "matrix/primaries/transfer" as tagged, "" parts untagged
    audio_profile: str | None = None  # "LC", "HE-AAC"...
    audio_sample_rate: int = 0
    audio_bitrate: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The job's ``media`` (camelCase); the asset keeps :meth:`contract_view` instead."""
        return as_wire(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        return cls(**known_fields(cls, data))

    @property
    def fps(self) -> Fraction:
        return Fraction(self.frame_rate) if self.frame_rate else Fraction(0)

    @property
    def is_hdr(self) -> bool:
        return self.dynamic_range in ("hlg", "pq")

    def conversions(self) -> list[str]:
        """What the pipeline does to the picture so that every player shows it right (on the asset)."""
        if not self.has_video:
            return []
        done = []
        if self.is_hdr:
            source = "HLG" if self.dynamic_range == "hlg" else "HDR10 (PQ)"
            if self.dolby_vision_profile is not None:
                source = f"Dolby Vision profile {self.dolby_vision_profile} ({source} base layer)"
            done.append(f"tone-mapped from {source} to SDR BT.709")
        elif self.color_matrix != "bt709":
            done.append(f"colour matrix converted from {self.color_matrix.upper()} to BT.709")
        if self.color_range == "pc":
            done.append("full range converted to TV range")
        if self.bit_depth > 8 or (self.pixel_format and not self.pixel_format.startswith(("yuv420p", "yuvj420p"))):
            done.append(f"{self.pixel_format or 'the picture'} converted to 8-bit 4:2:0")
        if self.interlaced:
            done.append("deinterlaced (bwdif)")
        if self.variable_frame_rate:
            done.append("variable frame rate made constant")
        return done

    def contract_view(self) -> dict[str, Any]:
        """The contract's ``media`` object (and a few fields it allows us to add)."""
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
            "dynamicRange": self.dynamic_range if self.has_video else None,
            "conversions": self.conversions(),
        }


def _rate(text: str | None) -> Fraction:
    try:
        return Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _rotation(stream: dict[str, Any]) -> int:
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


def _is_picture(stream: dict[str, Any], packets: StreamPackets | None) -> bool:
    """Cover art, or a still image in a video's clothes. MJPEG is also a video codec (cameras, old
    phones): more than one frame makes it video."""
    if (stream.get("disposition") or {}).get("attached_pic"):
        return True
    frames = max(int(stream.get("nb_frames") or 0), packets.count if packets else 0)
    return stream.get("codec_name") in IMAGE_CODECS and frames <= 1


def _chosen(streams: list[dict[str, Any]]) -> int:
    """The position of the stream a player would pick: the one marked default, else the first."""
    for position, stream in enumerate(streams):
        if (stream.get("disposition") or {}).get("default"):
            return position
    return 0


def _dolby_vision(stream: dict[str, Any]) -> dict[str, Any] | None:
    for side_data in stream.get("side_data_list") or []:
        if "dv_profile" in side_data:
            return side_data
    return None


def _dynamic_range(stream: dict[str, Any]) -> tuple[str, int | None]:
    """``(sdr|hlg|pq, Dolby Vision profile)``. Dolby Vision is read through its base layer, which is
    what FFmpeg decodes: profile 8.4 (iPhone) is HLG, 8.1 and 7 are HDR10, 8.2 is SDR; profile 5 has
    no standard base layer and cannot be shown right without Dolby's own processing."""
    transfer = stream.get("color_transfer")
    dynamic = {"arib-std-b67": "hlg", "smpte2084": "pq"}.get(transfer or "", "sdr")
    vision = _dolby_vision(stream)
    if vision is None:
        return dynamic, None
    profile, compatibility = int(vision.get("dv_profile") or 0), int(vision.get("dv_bl_signal_compatibility_id") or 0)
    if compatibility == 0 and profile in (5, 0):
        raise UnsupportedMedia(
            f"the video is Dolby Vision profile {profile}, which has no standard picture to convert; "
            "export it as HDR10, HLG or SDR",
            code="UnsupportedDynamicRange",
        )
    base = {1: "pq", 2: "sdr", 4: "hlg", 6: "pq"}.get(compatibility, dynamic)
    return base, profile


def _color_matrix(stream: dict[str, Any], width: int, height: int) -> str:
    space = stream.get("color_space") or ""
    if space in ("bt709",):
        return "bt709"
    if space in ("smpte170m", "bt470bg", "fcc", "smpte240m"):
        return "bt601"
    if space.startswith("bt2020"):
        return "bt2020"
    # Untagged: what players assume, by size (SD is BT.601, HD and up BT.709).
    return "bt709" if max(width, height) >= 1280 or min(width, height) >= 720 else "bt601"


def _bit_depth(stream: dict[str, Any]) -> int:
    raw = stream.get("bits_per_raw_sample")
    if raw and str(raw).isdigit() and int(raw) > 0:
        return int(raw)
    pixel_format = stream.get("pix_fmt") or ""
    for depth in (16, 14, 12, 10, 9):
        if f"p{depth}" in pixel_format:
            return depth
    return 8


def _keyframe_gap(packets: StreamPackets | None) -> tuple[int, float]:
    if packets is None or not packets.keyframes:
        return 0, 0.0
    times = sorted(packets.keyframes)
    end = packets.end if packets.end is not None else times[-1]
    gaps = [later - earlier for earlier, later in pairwise(times)] + [end - times[-1]]
    return len(times), max(gaps)


def _cut_short(what: str) -> UnsupportedMedia:
    return UnsupportedMedia(
        f"the file is truncated: {what} its header promises (was the upload or the recording cut short?)",
        code="Truncated",
    )


def _check_whole(stream: dict[str, Any], kind: str, packets: StreamPackets | None) -> None:
    """Truncated: fewer packets, or a shorter span, than the stream's header promises."""
    if packets is None:
        raise _cut_short(f"its {kind} stream has no packets")
    promised_frames = int(stream.get("nb_frames") or 0)
    # PCM audio counts samples as its "frames", not packets: only its duration says anything.
    is_pcm = str(stream.get("codec_name", "")).startswith("pcm_")
    if promised_frames and not is_pcm and packets.count < promised_frames * TRUNCATION_TOLERANCE - 1:
        raise _cut_short(f"its {kind} stream has {packets.count} of the {promised_frames} frames")
    promised_seconds = float(stream.get("duration") or 0)
    if promised_seconds > 1 and 0 < packets.extent < promised_seconds * TRUNCATION_TOLERANCE - 0.1:
        raise _cut_short(f"its {kind} stops at {packets.extent:.1f} s of the {promised_seconds:.1f} s")


def _check_picture(video: dict[str, Any], limits: MediaLimits) -> None:
    """Size and frame rate within the limits, from the stream's header alone."""
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if max(width, height) > limits.max_long_side or width * height > limits.max_pixels:
        shown = f"{height}x{width}" if _rotation(video) in (90, 270) else f"{width}x{height}"
        raise MediaLimitExceeded(
            f"the picture is {shown}; at most {limits.max_long_side} pixels on the long side and "
            f"{limits.max_pixels / 1e6:.1f} megapixels are accepted",
            code="ResolutionTooHigh",
        )
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    if fps > limits.max_fps:
        raise MediaLimitExceeded(
            f"the video runs at {float(fps):.0f} frames a second; at most {limits.max_fps:.0f} are accepted",
            code="FrameRateTooHigh",
        )


def _check_length(seconds: float, limits: MediaLimits) -> None:
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
            _check_picture(stream, limits)
    _check_length(float(file_format.get("duration") or 0), limits)  # what the header promises


def describe(
    probe: dict[str, Any], packets: dict[int, StreamPackets], limits: MediaLimits = MediaLimits()
) -> MediaInfo:
    """ffprobe's header JSON and the packet scan -> :class:`MediaInfo`, or a named error whose message
    says, in one sentence, what is wrong with the file."""
    check_header(probe, limits)
    file_format = probe.get("format") or {}
    container = file_format.get("format_name", "")
    streams = probe.get("streams") or []

    def packets_of(stream: dict[str, Any] | None) -> StreamPackets | None:
        return packets.get(int(stream.get("index", -1))) if stream is not None else None

    videos = [s for s in streams if s.get("codec_type") == "video" and not _is_picture(s, packets_of(s))]
    pictures = [s for s in streams if s.get("codec_type") == "video" and _is_picture(s, packets_of(s))]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos and not audios:
        if pictures:
            raise UnsupportedMedia("the file holds only still images, no video or audio", code="ImageOnly")
        kinds = sorted({str(s.get("codec_type")) for s in streams}) or ["nothing"]
        raise UnsupportedMedia(
            f"the file has no video or audio stream (only {', '.join(kinds)})", code="NoMediaStreams"
        )
    video = videos[_chosen(videos)] if videos else None
    audio = audios[_chosen(audios)] if audios else None
    for stream, kind in ((video, "video"), (audio, "audio")):
        if stream is not None:
            _check_whole(stream, kind, packets_of(stream))

    header_duration = float(file_format.get("duration") or 0)
    if header_duration <= 0:
        header_duration = max((float(s.get("duration") or 0) for s in videos + audios), default=0.0)
    used = [packets_of(stream) for stream in (video, audio) if stream is not None]
    spans = [(p.start, p.end) for p in used if p is not None and p.start is not None and p.end is not None]
    scanned_duration = (max(end for _, end in spans) - min(start for start, _ in spans)) if spans else 0.0
    # Containers that keep one duration for the whole file (Matroska, MPEG-TS), not one per stream.
    per_file = not any(stream.get("duration") for stream in (video, audio) if stream)
    if per_file and header_duration > 1 and 0 < scanned_duration < header_duration * TRUNCATION_TOLERANCE - 0.1:
        raise _cut_short(f"it stops at {scanned_duration:.1f} s of the {header_duration:.1f} s")
    # The packets are the truth; a header may lie or, like a browser's recording, say nothing.
    duration = scanned_duration if scanned_duration > 0 else header_duration
    if duration <= 0 and video is not None and packets_of(video) and packets_of(video).count == 1:
        duration = 1 / float(_rate(video.get("r_frame_rate")) or 30)  # a single frame with no duration
    if duration <= 0:
        raise UnsupportedMedia(
            "the file's duration cannot be read: it holds no timed video or audio (truncated?)",
            code="UnreadableDuration",
        )
    _check_length(duration, limits)  # what the packets hold

    info: dict[str, Any] = {
        "duration_seconds": duration,
        "has_video": video is not None,
        "has_audio": audio is not None,
        "container": container,
        "bitrate": int(float(file_format.get("bit_rate") or 0)),
        "audio_streams": len(audios),
    }
    if audio is not None:
        info["audio_codec"] = audio.get("codec_name")
        info["audio_channels"] = int(audio.get("channels") or 0)
        info["audio_stream"] = int(audio.get("index", streams.index(audio)))
        info["audio_profile"] = audio.get("profile")
        info["audio_sample_rate"] = int(audio.get("sample_rate") or 0)
        info["audio_bitrate"] = int(float(audio.get("bit_rate") or 0))
    if video is not None:
        info.update(_describe_video(video, int(video.get("index", streams.index(video))), packets_of(video), limits))
    return MediaInfo(**info)


def _describe_video(
    video: dict[str, Any], position: int, packets: StreamPackets | None, limits: MediaLimits
) -> dict[str, Any]:
    coded_width, coded_height = int(video.get("width") or 0), int(video.get("height") or 0)
    if coded_width <= 0 or coded_height <= 0:
        raise UnsupportedMedia(
            "the video stream has no picture size: the file is damaged or truncated", code="UnreadableVideo"
        )
    rotation = _rotation(video)
    width, height = (coded_height, coded_width) if rotation in (90, 270) else (coded_width, coded_height)
    _check_picture(video, limits)
    average, nominal = _rate(video.get("avg_frame_rate")), _rate(video.get("r_frame_rate"))
    fps = average or nominal
    if fps <= 0:
        raise UnsupportedMedia("the video's frame rate cannot be read: the file is damaged", code="UnreadableVideo")
    dynamic_range, vision_profile = _dynamic_range(video)
    keyframes, longest_gap = _keyframe_gap(packets)
    pixel_format = video.get("pix_fmt")
    return {
        "width": width,
        "height": height,
        "rotation": rotation,
        "video_codec": video.get("codec_name"),
        "frame_rate": f"{fps.numerator}/{fps.denominator}",
        "variable_frame_rate": bool(nominal) and abs(float(nominal - average)) > 0.01 * float(nominal),
        "video_stream": position,
        "pixel_format": pixel_format,
        "bit_depth": _bit_depth(video),
        "color_range": "pc" if video.get("color_range") == "pc" or str(pixel_format).startswith("yuvj") else "tv",
        "color_matrix": _color_matrix(video, coded_width, coded_height),
        "dynamic_range": dynamic_range,
        "dolby_vision_profile": vision_profile,
        "interlaced": video.get("field_order") in INTERLACED_FIELD_ORDERS,
        "keyframe_count": keyframes,
        "max_keyframe_gap_seconds": round(longest_gap, 3),
        "video_profile": video.get("profile"),
        "video_level": int(video.get("level") or 0),
        "video_bitrate": int(float(video.get("bit_rate") or 0)),
        "color_tags": "/".join(
            "" if str(video.get(tag) or "unknown") in ("unknown", "reserved") else str(video[tag])
            for tag in ("color_space", "color_primaries", "color_transfer")
        ),
    }
