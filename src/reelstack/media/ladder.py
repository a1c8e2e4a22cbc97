"""The rendition ladder: which HLS renditions a source gets (the one place that decides it).

Apple's HLS authoring spec conventions: H.264 High, AAC-LC, an IDR frame every 2 s aligned across
renditions, 6 s segments. Rungs are named by their short side so that portrait video (taller than
wide) gets the same quality steps as landscape. A source is never upscaled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from reelstack.media.chunks import Chunk, plan_chunks
from reelstack.media.loudness import Target
from reelstack.media.probe import MediaInfo
from reelstack.media.tracks import MAX_AUDIO_TRACKS, AudioTrack, keep_tracks
from reelstack.wire import as_wire, known_fields

KEYFRAME_SECONDS = 2
SEGMENT_SECONDS = 6
MAX_OUTPUT_FPS = 60
AUDIO_BITRATE = 128_000


@dataclass(frozen=True)
class Rung:
    short_side: int
    video_bitrate: int  # bits per second at 30 fps; high frame rates get more (see _bitrate)
    max_copy_level: str  # the highest H.264 level a source copied as this rung may have (pass-through)


LADDER = (
    Rung(1080, 5_000_000, "4.2"),
    Rung(720, 2_800_000, "4.0"),
    Rung(480, 1_400_000, "3.1"),
    Rung(360, 800_000, "3.0"),
)
# H.264's levels (ITU-T H.264 Table A-1): macroblocks per second, macroblocks per frame, and the
# High profile's bitrate cap in bit/s (1.25x the table's). An encoded rung declares the lowest level its
# size, rate and maxrate fit, and x264 is told that level, so the master's CODECS is what the stream says.
_H264_LEVELS = (
    ("1.3", 11_880, 396, 960_000), ("2.0", 11_880, 396, 2_500_000), ("2.1", 19_800, 792, 5_000_000),
    ("2.2", 20_250, 1_620, 5_000_000), ("3.0", 40_500, 1_620, 12_500_000), ("3.1", 108_000, 3_600, 17_500_000),
    ("3.2", 216_000, 5_120, 25_000_000), ("4.0", 245_760, 8_192, 25_000_000), ("4.1", 245_760, 8_192, 62_500_000),
    ("4.2", 522_240, 8_704, 62_500_000), ("5.0", 589_824, 22_080, 168_750_000), ("5.1", 983_040, 36_864, 300_000_000),
    ("5.2", 2_073_600, 36_864, 300_000_000),
)  # fmt: skip
MAXRATE_SHARE = 1.1  # an encoded rung's -maxrate over its bitrate (reelstack.media.ffmpeg)


@dataclass(frozen=True)
class Rendition:
    name: str  # e.g. "720p", or "audio"
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int
    codecs: str  # the CODECS attribute of the master playlist
    # Whether the rendition keeps the source's own video and audio (stream copy), and why (or why not).
    passthrough: dict[str, Any] | None = None

    @property
    def bandwidth(self) -> int:
        return self.video_bitrate + self.audio_bitrate


AUDIO_RENDITION = "audio"  # the default audio rendition's folder and the group's id (EXT-X-MEDIA)


@dataclass(frozen=True)
class AudioRendition:
    """A kept audio track of the source (reelstack.media.tracks) as an HLS audio rendition."""

    name: str  # its folder: "audio" for the default track, "audio2", "audio3"... for the others (the
    # playback route takes [a-z0-9] names)
    stream: int  # the source's stream index
    label: str  # NAME: what a player's menu shows
    language: str | None = None  # LANGUAGE (BCP 47)
    default: bool = False
    kind: str | None = None  # "commentary" or "descriptions"

    @classmethod
    def of(cls, track: AudioTrack, position: int) -> AudioRendition:
        name = AUDIO_RENDITION if position == 0 else f"{AUDIO_RENDITION}{position + 1}"
        return cls(name, track.stream, track.name, track.language, position == 0, track.kind)


@dataclass(frozen=True)
class Plan:
    renditions: list[Rendition] = field(default_factory=list)
    frame_rate: str | None = None  # output frame rate (constant), e.g. "30/1"
    keyframe_seconds: int = KEYFRAME_SECONDS
    segment_seconds: int = SEGMENT_SECONDS
    audio_only: bool = False
    has_audio: bool = True
    # The video's chunks (reelstack.media.chunks); more than one: encoded apart, audio on its own.
    chunks: list[Chunk] = field(default_factory=list)
    copy_video: bool = False  # the top rung is the source's video, segmented at its own keyframes
    copy_audio: bool = False  # every rung carries the source's AAC as it is
    target_duration: int = SEGMENT_SECONDS  # EXT-X-TARGETDURATION of every media playlist, fixed up front
    # The kept audio tracks, the default first (one for a source with one track, none when silent).
    audio_renditions: list[AudioRendition] = field(default_factory=list)
    dropped_audio_tracks: int = 0  # distinct tracks past MAX_AUDIO_TRACKS (a warning)
    loudness_target: Target | None = None  # normalizeAudio: what the audio is evened out to

    def as_dict(self) -> dict[str, Any]:
        """The job's ``plan`` (camelCase)."""
        return as_wire(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            **{
                **known_fields(cls, data),
                "renditions": [Rendition(**known_fields(Rendition, item)) for item in data["renditions"]],
                "chunks": [Chunk(**known_fields(Chunk, item)) for item in data.get("chunks") or []],
                "audio_renditions": [
                    AudioRendition(**known_fields(AudioRendition, item)) for item in data.get("audioRenditions") or []
                ],
                "loudness_target": Target(**known_fields(Target, data["loudnessTarget"]))
                if data.get("loudnessTarget")
                else None,
            }
        )

    @property
    def separate_audio(self) -> bool:
        """Whether the audio plays from audio renditions of its own (``EXT-X-MEDIA``) rather than in
        every video rendition: chunked video (the chunks carry video only), or several audio tracks."""
        return self.has_audio and not self.audio_only and (self.chunked or len(self.audio_renditions) > 1)

    @property
    def playlists(self) -> list[str]:
        """The media playlists' folders of the encode in one piece: each rendition's, then the audio's."""
        audio = [audio.name for audio in self.audio_renditions] if self.separate_audio else []
        return [rendition.name for rendition in self.renditions] + audio

    def warnings(self) -> list[dict[str, str]]:
        """What the plan leaves out of the source, as the asset's warnings."""
        if not self.dropped_audio_tracks:
            return []
        return [{
            "code": "AudioTracksDropped",
            "message": f"the file has {MAX_AUDIO_TRACKS + self.dropped_audio_tracks} audio tracks in different "
            f"languages; the first {MAX_AUDIO_TRACKS} are kept",
        }]  # fmt: skip

    @property
    def chunked(self) -> bool:
        return len(self.chunks) > 1

    @property
    def fps(self) -> Fraction:
        return Fraction(self.frame_rate) if self.frame_rate else Fraction(0)

    @property
    def gop_frames(self) -> int:
        return round(self.fps * self.keyframe_seconds)


def even_size(value: float) -> int:
    """The nearest even size of at least 2 (4:2:0 needs even sizes)."""
    return max(2, round(value / 2) * 2)


def output_frame_rate(media: MediaInfo) -> Fraction:
    """The source's rate, halved until it is at most 60 (240 -> 60, 50 stays); VFR becomes constant."""
    fps = media.fps
    if media.variable_frame_rate:
        fps = Fraction(round(fps)) or Fraction(30)
    while fps > MAX_OUTPUT_FPS:
        fps /= 2
    return fps


def _bitrate(rung: Rung, fps: Fraction) -> int:
    return int(rung.video_bitrate * (1.5 if fps > 31 else 1))


# -- pass-through: a source that phones already stream keeps its video as the top rung ---------------

# A copied top rung may run up to this share over the rung's own bitrate: 8 Mbit/s for 1080p30, the
# bitrate Mux accepts as standard input at 1080p. Phones record more (about 16 Mbit/s), which is
# re-encoded: that much would stall the top rung on most mobile links.
PASSTHROUGH_BITRATE_SHARE = 1.6
# Copying the top rung keeps the video in one piece (one decode for the rungs below): the rungs below
# 1080p30 take about 0.55 CPU-s per second on 2 vCPUs, so 13 minutes (430 s) fit a 900 s function
# twice over (reelstack.media.budget's margin). A phone's "10-minute" video is a little over 600 s.
PASSTHROUGH_MAX_SECONDS = 780
PASSTHROUGH_CONTAINERS = ("mov,mp4,m4a,3gp,3g2,mj2",)
_H264_PROFILES = {"Constrained Baseline": (66, 0xC0), "Baseline": (66, 0x00), "Main": (77, 0x00), "High": (100, 0x00)}


@dataclass(frozen=True)
class Verdict:
    used: bool
    reason: str


def video_passthrough(media: MediaInfo, top: Rendition, level: str) -> Verdict:
    """Whether the source's video can be the top rung as it is: what every phone plays (H.264 8-bit
    4:2:0, TV range, BT.709 or untagged, SDR, progressive, constant frame rate, upright), at the top
    rung's size, level and bitrate, with keyframes at most one segment apart (segments are cut there)."""
    problems = []
    if media.container not in PASSTHROUGH_CONTAINERS:
        problems.append(f"the container is {media.container.split(',')[0]}, not MP4 or MOV")
    if media.video_codec != "h264":
        problems.append(f"the video is {media.video_codec}, not H.264")
    elif media.video_profile not in _H264_PROFILES:
        problems.append(f"the H.264 profile is {media.video_profile}")
    if media.pixel_format != "yuv420p" or media.bit_depth != 8 or media.color_range != "tv":
        problems.append(f"the picture is {media.pixel_format} in {media.color_range} range, not 8-bit 4:2:0 TV range")
    if media.is_hdr or media.dolby_vision_profile is not None:
        problems.append("the video is HDR")
    elif media.color_matrix != "bt709" or any(tag not in ("", "bt709") for tag in media.color_tags.split("/")):
        problems.append(f"the colours are tagged {media.color_tags or 'for SD'}, not BT.709")
    if media.interlaced:
        problems.append("the video is interlaced")
    if media.variable_frame_rate:
        problems.append("the frame rate is variable")
    elif media.fps > MAX_OUTPUT_FPS:
        problems.append(f"the frame rate is over {MAX_OUTPUT_FPS}")
    if media.rotation:
        problems.append(f"the picture is stored turned by {media.rotation} degrees")
    if (media.width, media.height) != (top.width, top.height):
        problems.append(
            f"the picture is {media.width}x{media.height}, not the {top.name} rung's {top.width}x{top.height}"
        )
    if media.video_level > round(float(level) * 10):
        problems.append(f"the H.264 level {media.video_level / 10:.1f} is over the rung's {level}")
    bitrate, cap = source_video_bitrate(media), int(top.video_bitrate * PASSTHROUGH_BITRATE_SHARE)
    if not bitrate:
        problems.append("the video's bitrate cannot be read")
    elif bitrate > cap:
        problems.append(f"the video's bitrate ({bitrate / 1e6:.1f} Mbit/s) is over {cap / 1e6:.1f} Mbit/s")
    if not media.keyframe_count or media.max_keyframe_gap_seconds > SEGMENT_SECONDS:
        problems.append(
            f"keyframes are up to {media.max_keyframe_gap_seconds:.1f} s apart, over a segment's {SEGMENT_SECONDS} s"
        )
    if media.duration_seconds > PASSTHROUGH_MAX_SECONDS:
        problems.append(f"the video is over {PASSTHROUGH_MAX_SECONDS // 60} minutes long (it is encoded in chunks)")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, f"the source's H.264 ({media.video_profile}, {bitrate / 1e6:.1f} Mbit/s) is kept as it is")


def audio_passthrough(media: MediaInfo, video: Verdict, tracks: list[AudioTrack], normalize: bool = False) -> Verdict:
    """AAC-LC stereo at 44.1 or 48 kHz is kept as it is, alongside a copied video (standard input),
    unless it is to be evened out (normalizeAudio). Several tracks are kept as they are only if every
    one of them may be."""
    if not media.has_audio:
        return Verdict(False, "there is no audio")
    if not video.used:
        return Verdict(False, "the audio is encoded with the video")
    if normalize:
        return Verdict(False, "the audio is encoded to even out its loudness (normalizeAudio)")
    for track in tracks:
        which = f"audio track {track.stream}" if len(tracks) > 1 else "audio"
        if track.codec != "aac" or track.profile != "LC":
            return Verdict(False, f"the {which} is {track.codec} {track.profile or ''}, not AAC-LC".replace("  ", " "))
        if track.channels != 2 or track.sample_rate not in (44100, 48000):
            channels = f"{track.channels} channel" + ("" if track.channels == 1 else "s")
            return Verdict(False, f"the {which} has {channels} at {track.sample_rate} Hz, not stereo at 44.1 or 48 kHz")
    return Verdict(True, "the source's AAC-LC stereo is kept as it is")


def source_video_bitrate(media: MediaInfo) -> int:
    """The video stream's bitrate, else the file's less its audio (Matroska keeps no per-stream rate)."""
    return media.video_bitrate or max(0, media.bitrate - media.audio_bitrate)


def h264_level(width: int, height: int, fps: Fraction, bitrate: int) -> str:
    """The lowest H.264 level (``"3.1"``) that a High profile stream of this size, frame rate and
    maxrate fits."""
    frame = math.ceil(width / 16) * math.ceil(height / 16)
    per_second = frame * float(fps or 30)
    maxrate = bitrate * MAXRATE_SHARE
    for level, max_rate, max_frame, max_bitrate in _H264_LEVELS:
        if per_second <= max_rate and frame <= max_frame and maxrate <= max_bitrate:
            return level
    return _H264_LEVELS[-1][0]


def encoded_codecs(level: str, has_audio: bool) -> str:
    """The CODECS of a rung that x264 encodes (High profile) at ``level``."""
    return f"avc1.6400{round(float(level) * 10):02x}" + (",mp4a.40.2" if has_audio else "")


def codecs_level(codecs: str) -> str:
    """The H.264 level an ``avc1.PPCCLL`` CODECS names, as x264 takes it (``"3.1"``)."""
    return f"{int(codecs.split(',')[0][-2:], 16) / 10:.1f}"


def avc_codecs(profile: str | None, level: int) -> str:
    """The CODECS name of an H.264 stream from ffprobe's profile and level (the init segment's avcC
    says it exactly: reelstack.media.fmp4.tracks)."""
    idc, constraints = _H264_PROFILES.get(profile or "", (100, 0))
    return f"avc1.{idc:02x}{constraints:02x}{level:02x}"


def plan_ladder(
    media: MediaInfo, chunk_seconds: float = 0, passthrough: bool = True, loudness_target: Target | None = None
) -> Plan:
    """The renditions for ``media``, and its chunks of about ``chunk_seconds`` (0: one chunk). Audio
    alone is always one chunk: AAC encodes at hundreds of times realtime. A standard source keeps its
    video as the top rung (:func:`video_passthrough`) and is never chunked. With ``loudness_target``
    the audio is evened out to it (reelstack.media.loudness)."""
    kept = keep_tracks(_audio_tracks(media))
    if not media.has_video:
        # Sound alone is one rendition: the track a player would pick (a menu needs a video to go with).
        audio = Rendition("audio", 0, 0, 0, AUDIO_BITRATE, "mp4a.40.2")
        return Plan(
            renditions=[audio], audio_only=True, has_audio=True, chunks=plan_chunks(media.duration_seconds, 0, 1),
            audio_renditions=[AudioRendition.of(kept.tracks[0], 0)], loudness_target=loudness_target,
        )  # fmt: skip
    fps = output_frame_rate(media)
    short, long_ = sorted((media.width, media.height))
    rungs = [rung for rung in LADDER if rung.short_side <= short] or [
        Rung(even_size(short), int(LADDER[-1].video_bitrate * short / LADDER[-1].short_side), "3.0")
    ]
    audio_bitrate = AUDIO_BITRATE if media.has_audio else 0
    renditions = []
    for rung in rungs:
        scale = rung.short_side / short
        scaled_short, scaled_long = even_size(short * scale), even_size(long_ * scale)
        width, height = (scaled_long, scaled_short) if media.width >= media.height else (scaled_short, scaled_long)
        bitrate = _bitrate(rung, fps)
        codecs = encoded_codecs(h264_level(width, height, fps, bitrate), media.has_audio)
        renditions.append(Rendition(f"{rung.short_side}p", width, height, bitrate, audio_bitrate, codecs))
    video = video_passthrough(media, renditions[0], rungs[0].max_copy_level)
    if not passthrough and video.used:
        video = Verdict(False, "pass-through is switched off here (Passthrough=off)")
    audio = audio_passthrough(media, video, kept.tracks, normalize=loudness_target is not None)
    if video.used:
        renditions[0] = replace(
            renditions[0],
            video_bitrate=source_video_bitrate(media),
            codecs=avc_codecs(media.video_profile, media.video_level) + (",mp4a.40.2" if media.has_audio else ""),
        )
    if audio.used:
        renditions = [
            replace(rendition, audio_bitrate=media.audio_bitrate or AUDIO_BITRATE) for rendition in renditions
        ]
    renditions = [
        replace(rendition, passthrough=_decision(index == 0 and video.used, audio.used, video, audio, index))
        for index, rendition in enumerate(renditions)
    ]
    return Plan(
        renditions=renditions,
        frame_rate=f"{fps.numerator}/{fps.denominator}",
        has_audio=media.has_audio,
        chunks=plan_chunks(media.duration_seconds, 0 if video.used else chunk_seconds, SEGMENT_SECONDS),
        copy_video=video.used,
        copy_audio=audio.used,
        # Copied video is cut at its own keyframes: a segment may run one keyframe gap past 6 s.
        target_duration=math.ceil(SEGMENT_SECONDS + media.max_keyframe_gap_seconds) if video.used else SEGMENT_SECONDS,
        audio_renditions=[AudioRendition.of(track, position) for position, track in enumerate(kept.tracks)],
        dropped_audio_tracks=kept.dropped,
        loudness_target=loudness_target if media.has_audio else None,
    )


def _audio_tracks(media: MediaInfo) -> list[AudioTrack]:
    """The source's audio tracks; a description from before tracks were read has its chosen one only."""
    if media.audio_tracks or not media.has_audio:
        return media.audio_tracks
    return [AudioTrack(media.audio_stream, default=True, codec=media.audio_codec, profile=media.audio_profile,
                       channels=media.audio_channels, sample_rate=media.audio_sample_rate,
                       bitrate=media.audio_bitrate)]  # fmt: skip


def _decision(copied: bool, audio_copied: bool, video: Verdict, audio: Verdict, index: int) -> dict[str, Any]:
    """A rendition's ``passthrough``: what it keeps of the source, and why."""
    if copied:
        reason = video.reason
    elif index == 0 or not video.used:
        reason = f"the video is encoded: {video.reason}"
    else:
        reason = "the video is encoded at this smaller size, keyframes on the source's"
    return {"video": copied, "audio": audio_copied, "reason": f"{reason}; {audio.reason}"}
