"""Chunked encoding's plan: the timeline cut on the output's segment grid, so that every output
segment belongs to exactly one chunk whatever the source's GOP.

A chunk starts at a multiple of the segment length; its encode seeks to the source's keyframe at or
before that start and decodes forward to it (FFmpeg's accurate input seek), so a source with one
keyframe still splits, at the price of chunk k decoding (not encoding) the k chunks before it.
Short videos are one chunk: they are encoded as before, in one process, with nothing extra.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Past this many chunks the plan (which travels in the job) would crowd Step Functions' 256 KiB.
MAX_CHUNKS = 1000
# Chunked encodes put the timeline at this offset, the same in every chunk and in the audio, so that
# the first chunk's B-frame delay never pushes its timestamps past the next chunk's (see reelstack.media.ffmpeg.encode).
TIMELINE_OFFSET_SECONDS = 1


@dataclass(frozen=True)
class Chunk:
    index: int
    start_seconds: float
    end_seconds: float
    first_segment: int  # the global number of its first segment (segment_<n>.m4s)

    @property
    def seconds(self) -> float:
        return self.end_seconds - self.start_seconds


def chunk_length(chunk_seconds: float, segment_seconds: int) -> int:
    """The requested chunk length rounded down to whole segments (at least one)."""
    return max(1, math.floor(chunk_seconds / segment_seconds)) * segment_seconds


def plan_chunks(duration_seconds: float, chunk_seconds: float, segment_seconds: int) -> list[Chunk]:
    """Chunks of ``chunk_seconds`` (whole segments) covering the video; one chunk when it is no longer
    than that or chunking is off (``chunk_seconds`` <= 0). A last piece shorter than one segment joins
    the chunk before it rather than costing an encode of its own."""
    if chunk_seconds <= 0 or duration_seconds <= chunk_seconds:
        return [Chunk(0, 0.0, duration_seconds, 0)]
    length = chunk_length(chunk_seconds, segment_seconds)
    starts = list(range(0, math.ceil(duration_seconds), length))
    if len(starts) > 1 and duration_seconds - starts[-1] < segment_seconds:
        starts.pop()
    ends = [*starts[1:], duration_seconds]
    return [
        Chunk(index, float(start), float(end), start // segment_seconds)
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
