"""The rendition ladder: which HLS renditions a source gets (the one place that decides it).

Apple's HLS authoring spec conventions: H.264 High, AAC-LC, an IDR frame every 2 s aligned across
renditions, 6 s segments. Rungs are named by their short side so that portrait video (taller than
wide) gets the same quality steps as landscape. A source is never upscaled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from reelstack.media.chunks import Chunk, plan_chunks
from reelstack.media.probe import MediaInfo
from reelstack.wire import as_wire, known_fields

KEYFRAME_SECONDS = 2
SEGMENT_SECONDS = 6
MAX_OUTPUT_FPS = 60
AUDIO_BITRATE = 128_000


@dataclass(frozen=True)
class Rung:
    short_side: int
    video_bitrate: int  # bits per second at 30 fps; high frame rates get more (see _bitrate)
    level: str


LADDER = (
    Rung(1080, 5_000_000, "4.2"),
    Rung(720, 2_800_000, "4.0"),
    Rung(480, 1_400_000, "3.1"),
    Rung(360, 800_000, "3.0"),
)
_LEVEL_CODES = {"3.0": "1e", "3.1": "1f", "4.0": "28", "4.1": "29", "4.2": "2a"}


@dataclass(frozen=True)
class Rendition:
    name: str  # e.g. "720p", or "audio"
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int
    codecs: str  # the CODECS attribute of the master playlist

    @property
    def bandwidth(self) -> int:
        return self.video_bitrate + self.audio_bitrate


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
            }
        )

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


def plan_ladder(media: MediaInfo, chunk_seconds: float = 0) -> Plan:
    """The renditions for ``media``, and its chunks of about ``chunk_seconds`` (0: one chunk). Audio
    alone is always one chunk: AAC encodes at hundreds of times realtime."""
    if not media.has_video:
        audio = Rendition("audio", 0, 0, 0, AUDIO_BITRATE, "mp4a.40.2")
        return Plan(
            renditions=[audio], audio_only=True, has_audio=True, chunks=plan_chunks(media.duration_seconds, 0, 1)
        )
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
        codecs = f"avc1.6400{_LEVEL_CODES[rung.level]}" + (",mp4a.40.2" if media.has_audio else "")
        renditions.append(Rendition(f"{rung.short_side}p", width, height, _bitrate(rung, fps), audio_bitrate, codecs))
    return Plan(
        renditions=renditions,
        frame_rate=f"{fps.numerator}/{fps.denominator}",
        has_audio=media.has_audio,
        chunks=plan_chunks(media.duration_seconds, chunk_seconds, SEGMENT_SECONDS),
    )
