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
from typing import Any

from reelstack.errors import UnsupportedMedia
from reelstack.media.limits import (
    TRUNCATION_TOLERANCE,
    MediaLimits,
    check_header,
    check_length,
    check_picture,
    check_whole,
    cut_short,
    frame_rate,
    rotation_of,
)
from reelstack.media.packets import StreamPackets, keyframe_gap
from reelstack.media.tracks import AudioTrack, SubtitleTrack, describe_subtitle, describe_track
from reelstack.wire import as_wire, known_fields

IMAGE_CODECS = frozenset({"png", "mjpeg", "jpeg2000", "bmp", "gif", "webp", "tiff", "apng", "heif", "av1_image"})
INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})


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
    # Every audio stream, in the file's order (the chosen one is ``default``): reelstack.media.tracks.
    audio_tracks: list[AudioTrack] = field(default_factory=list)
    # Every subtitle stream, text or pictures, in the file's order (reelstack.derivatives.captions).
    subtitle_tracks: list[SubtitleTrack] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The job's ``media`` (camelCase); the asset keeps :meth:`contract_view` instead."""
        return as_wire(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        tracks = [AudioTrack(**known_fields(AudioTrack, track)) for track in data.get("audioTracks") or []]
        subtitles = [SubtitleTrack(**known_fields(SubtitleTrack, track)) for track in data.get("subtitleTracks") or []]
        return cls(**{**known_fields(cls, data), "audio_tracks": tracks, "subtitle_tracks": subtitles})

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


def describe(probe: dict[str, Any], packets: dict[int, StreamPackets], limits: MediaLimits | None = None) -> MediaInfo:
    """ffprobe's header JSON and the packet scan -> :class:`MediaInfo`, or a named error whose message
    says, in one sentence, what is wrong with the file."""
    limits = limits or MediaLimits()
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
            check_whole(stream, kind, packets_of(stream))

    subtitles_end = max((p.end for s in streams if s.get("codec_type") == "subtitle"
                         for p in [packets_of(s)] if p is not None and p.end is not None), default=0.0)  # fmt: skip
    duration = _duration(
        file_format,
        videos + audios,
        [(stream, packets_of(stream)) for stream in (video, audio) if stream],
        subtitles_end,
    )
    check_length(duration, limits)  # what the packets hold

    info: dict[str, Any] = {
        "duration_seconds": duration,
        "has_video": video is not None,
        "has_audio": audio is not None,
        "container": container,
        "bitrate": int(float(file_format.get("bit_rate") or 0)),
        "audio_streams": len(audios),
        "audio_tracks": [describe_track(stream, stream is audio) for stream in audios],
        "subtitle_tracks": [describe_subtitle(s) for s in streams if s.get("codec_type") == "subtitle"],
    }
    if audio is not None:
        info.update(_describe_audio(audio, int(audio.get("index", streams.index(audio)))))
    if video is not None:
        info.update(_describe_video(video, int(video.get("index", streams.index(video))), packets_of(video), limits))
    return MediaInfo(**info)


def _duration(
    file_format: dict[str, Any],
    streams: list[dict[str, Any]],
    used: list[tuple[dict[str, Any], StreamPackets | None]],
    subtitles_end: float = 0.0,
) -> float:
    """How long the file plays: from its packets (the truth; a header may lie or, like a browser's
    recording, say nothing), else from its header; Truncated when the packets stop well short of it.
    A subtitle cue may end after the picture and sound (a last line over the credits): a header whose
    one length counts it (Matroska) is whole."""
    header_duration = float(file_format.get("duration") or 0)
    if header_duration <= 0:
        header_duration = max((float(s.get("duration") or 0) for s in streams), default=0.0)
    spans = [(p.start, p.end) for _, p in used if p is not None and p.start is not None and p.end is not None]
    scanned_duration = (max(end for _, end in spans) - min(start for start, _ in spans)) if spans else 0.0
    # Containers that keep one duration for the whole file (Matroska, MPEG-TS), not one per stream.
    per_file = not any(stream.get("duration") for stream, _ in used)
    whole = max(scanned_duration, subtitles_end)
    if per_file and header_duration > 1 and 0 < whole < header_duration * TRUNCATION_TOLERANCE - 0.1:
        raise cut_short(f"it stops at {scanned_duration:.1f} s of the {header_duration:.1f} s")
    duration = scanned_duration if scanned_duration > 0 else header_duration
    video, packets = used[0]
    if duration <= 0 and video.get("codec_type") == "video" and packets and packets.count == 1:
        duration = 1 / float(frame_rate(video.get("r_frame_rate")) or 30)  # a single frame with no duration
    if duration <= 0:
        raise UnsupportedMedia(
            "the file's duration cannot be read: it holds no timed video or audio (truncated?)",
            code="UnreadableDuration",
        )
    return duration


def _describe_audio(audio: dict[str, Any], position: int) -> dict[str, Any]:
    return {
        "audio_codec": audio.get("codec_name"),
        "audio_channels": int(audio.get("channels") or 0),
        "audio_stream": position,
        "audio_profile": audio.get("profile"),
        "audio_sample_rate": int(audio.get("sample_rate") or 0),
        "audio_bitrate": int(float(audio.get("bit_rate") or 0)),
    }


def _describe_video(
    video: dict[str, Any], position: int, packets: StreamPackets | None, limits: MediaLimits
) -> dict[str, Any]:
    coded_width, coded_height = int(video.get("width") or 0), int(video.get("height") or 0)
    if coded_width <= 0 or coded_height <= 0:
        raise UnsupportedMedia(
            "the video stream has no picture size: the file is damaged or truncated", code="UnreadableVideo"
        )
    rotation = rotation_of(video)
    width, height = (coded_height, coded_width) if rotation in (90, 270) else (coded_width, coded_height)
    check_picture(video, limits)
    average, nominal = frame_rate(video.get("avg_frame_rate")), frame_rate(video.get("r_frame_rate"))
    fps = average or nominal
    if fps <= 0:
        raise UnsupportedMedia("the video's frame rate cannot be read: the file is damaged", code="UnreadableVideo")
    dynamic_range, vision_profile = _dynamic_range(video)
    keyframes, longest_gap = keyframe_gap(packets)
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
