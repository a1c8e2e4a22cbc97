"""The packet scan: every packet's stream, timestamps and flags, read without decoding
(:func:`reelstack.media.ffmpeg.packet_scan_command`), as per-stream facts: how many, from when to when,
and where the keyframes are."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise


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


def keyframe_gap(packets: StreamPackets | None) -> tuple[int, float]:
    if packets is None or not packets.keyframes:
        return 0, 0.0
    times = sorted(packets.keyframes)
    end = packets.end if packets.end is not None else times[-1]
    gaps = [later - earlier for earlier, later in pairwise(times)] + [end - times[-1]]
    return len(times), max(gaps)
