"""Reading the fMP4 files FFmpeg writes for HLS (ISO/IEC 14496-12 boxes), in pure Python.

The transcode functions carry FFmpeg but not ffprobe, so what the pipeline needs to know about a
segment it made (how long it is) or a rendition's init segment (which codec and level it declares)
is read from the boxes themselves: a segment's length is the sum of its first track's sample
durations (``moof/traf/trun``, else ``tfhd``'s or ``trex``'s default) in its ``mdhd`` timescale.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

# Boxes that hold only other boxes (the ones on the paths read here).
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts"}
# Sample entries: their fixed part, then child boxes (avcC, hvcC, esds).
_VISUAL_ENTRY_BYTES = 78
_AUDIO_ENTRY_BYTES = 28


class Fmp4Error(ValueError):
    """The bytes are not the fMP4 this module reads (cut short, or not FFmpeg's HLS output)."""


@dataclass(frozen=True)
class Box:
    kind: bytes
    body: bytes


def boxes(data: bytes) -> Iterator[Box]:
    """The boxes at one level of ``data``, in order."""
    at = 0
    while at + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > len(data):
                raise Fmp4Error("a box's 64-bit size is cut short")
            size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = len(data) - at
        if size < header or at + size > len(data):
            raise Fmp4Error(f"the {kind!r} box claims {size} bytes; {len(data) - at} are left")
        yield Box(kind, data[at + header : at + size])
        at += size


def find(data: bytes, *path: bytes) -> list[Box]:
    """Every box at ``path`` (e.g. ``b"moov", b"trak"``) below ``data``."""
    found = [Box(b"", data)]
    for kind in path:
        found = [child for parent in found for child in boxes(parent.body) if child.kind == kind]
    return found


@dataclass(frozen=True)
class Track:
    track_id: int
    timescale: int
    handler: str  # "vide", "soun"
    codec: str  # the RFC 6381 name: "avc1.64001f", "mp4a.40.2", or the sample entry's four letters
    default_sample_duration: int  # from mvex/trex (0 when absent)


def tracks(init: bytes) -> list[Track]:
    """The tracks an init segment declares, in order."""
    try:
        return _tracks(init)
    except (struct.error, IndexError, UnicodeDecodeError) as error:  # a box shorter than its fields
        raise Fmp4Error(f"the init segment is cut short or malformed: {error}") from error


def _tracks(init: bytes) -> list[Track]:
    defaults = {}
    for trex in find(init, b"moov", b"mvex", b"trex"):
        track_id, _, duration = struct.unpack_from(">4xIII", trex.body)
        defaults[track_id] = duration
    found = []
    for trak in find(init, b"moov", b"trak"):
        tkhd = _one(trak.body, b"tkhd")
        track_id = struct.unpack_from(">I", tkhd, 20 if tkhd[0] == 1 else 12)[0]
        mdhd = _one(_one(trak.body, b"mdia"), b"mdhd")
        timescale = struct.unpack_from(">I", mdhd, 20 if mdhd[0] == 1 else 12)[0]
        handler = _one(_one(trak.body, b"mdia"), b"hdlr")[8:12].decode("ascii", "replace")
        stsd = find(trak.body, b"mdia", b"minf", b"stbl", b"stsd")
        entry = next(boxes(stsd[0].body[8:]), None) if stsd else None
        codec = _codec_name(entry, handler) if entry else "unknown"
        found.append(Track(track_id, timescale, handler, codec, defaults.get(track_id, 0)))
    if not found:
        raise Fmp4Error("the init segment declares no track (no moov/trak)")
    return found


def segment_seconds(init: bytes, segment: bytes) -> float:
    """How long ``segment`` plays: its first track's samples (the video, or the audio alone)."""
    first = tracks(init)[0]
    try:
        return _samples_duration(segment, first) / first.timescale
    except (struct.error, IndexError) as error:  # a box shorter than its fields
        raise Fmp4Error(f"the segment is cut short or malformed: {error}") from error


def presentation_start(init: bytes, segment: bytes) -> float:
    """When ``segment``'s first sample of the init segment's first track (the video, or the audio
    alone) is shown, in seconds on the segments' own timeline: its ``tfdt`` decode time plus its
    composition offset. Players put a WebVTT file's ``X-TIMESTAMP-MAP`` on this timeline."""
    first = tracks(init)[0]
    try:
        for traf in find(segment, b"moof", b"traf"):
            if struct.unpack_from(">I", _one(traf.body, b"tfhd"), 4)[0] != first.track_id:
                continue
            tfdt = _one(traf.body, b"tfdt")
            decode_time = struct.unpack_from(">Q" if tfdt[0] == 1 else ">I", tfdt, 4)[0]
            trun = _one(traf.body, b"trun")
            return (decode_time + _first_composition_offset(trun)) / first.timescale
    except (struct.error, IndexError) as error:
        raise Fmp4Error(f"the segment is cut short or malformed: {error}") from error
    raise Fmp4Error("the segment holds no sample of the init segment's first track")


def _first_composition_offset(trun: bytes) -> int:
    flags = int.from_bytes(trun[1:4], "big")
    if not flags & 0x800 or not struct.unpack_from(">I", trun, 4)[0]:
        return 0
    at = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
    at += sum(4 for flag in (0x100, 0x200, 0x400) if flags & flag)
    return struct.unpack_from(">i" if trun[0] == 1 else ">I", trun, at)[0]


def _samples_duration(segment: bytes, first: Track) -> int:
    total = 0
    for traf in find(segment, b"moof", b"traf"):
        tfhd = _one(traf.body, b"tfhd")
        flags = int.from_bytes(tfhd[1:4], "big")
        if struct.unpack_from(">I", tfhd, 4)[0] != first.track_id:
            continue
        default = _tfhd_default_duration(tfhd, flags) or first.default_sample_duration
        for trun in (box for box in boxes(traf.body) if box.kind == b"trun"):
            total += sum(_trun_durations(trun.body, default))
    return total


def _one(data: bytes, kind: bytes) -> bytes:
    for box in boxes(data):
        if box.kind == kind:
            return box.body
    raise Fmp4Error(f"no {kind.decode('ascii', 'replace')} box where one belongs")


def _tfhd_default_duration(tfhd: bytes, flags: int) -> int:
    at = 8
    for flag, width in ((0x01, 8), (0x02, 4)):  # base data offset, sample description index
        if flags & flag:
            at += width
    return struct.unpack_from(">I", tfhd, at)[0] if flags & 0x08 else 0


def _trun_durations(trun: bytes, default: int) -> Iterator[int]:
    flags = int.from_bytes(trun[1:4], "big")
    count = struct.unpack_from(">I", trun, 4)[0]
    at = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)  # data offset, first sample flags
    per_sample = sum(4 for flag in (0x100, 0x200, 0x400, 0x800) if flags & flag)
    if at + count * per_sample > len(trun):
        raise Fmp4Error(f"a trun lists {count} samples but is cut short")
    for _ in range(count):
        yield struct.unpack_from(">I", trun, at)[0] if flags & 0x100 else default
        at += per_sample


def _codec_name(entry: Box, handler: str) -> str:
    kind = entry.kind.decode("ascii", "replace")
    skip = _VISUAL_ENTRY_BYTES if handler == "vide" else _AUDIO_ENTRY_BYTES if handler == "soun" else None
    if skip is None:
        return kind
    children = {box.kind: box.body for box in boxes(entry.body[skip:])}
    if b"avcC" in children:
        config = children[b"avcC"]
        return f"{kind}.{config[1]:02x}{config[2]:02x}{config[3]:02x}"  # profile, constraint flags, level
    if b"esds" in children:
        return _mp4a_name(children[b"esds"]) or kind
    return kind


def _mp4a_name(esds: bytes) -> str | None:
    """``mp4a.40.<audio object type>`` from an esds box's decoder configuration."""
    data, at, object_type = esds[4:], 0, 0x40  # after version and flags; 0x40: MPEG-4 audio
    while at < len(data):
        tag, at = data[at], at + 1
        length = 0
        for _ in range(4):
            byte, at = data[at], at + 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 0x03:  # ES descriptor: id, flags, [depends-on id], [URL], [OCR id], then its children
            flags = data[at + 2]
            at += 3 + (2 if flags & 0x80 else 0)
            if flags & 0x40:
                at += 1 + data[at]
            at += 2 if flags & 0x20 else 0
            continue
        if tag == 0x04:  # decoder configuration: object type, then the decoder specific info
            object_type = data[at]
            at += 13
            continue
        if tag == 0x05 and length:
            audio_object_type = data[at] >> 3
            return f"mp4a.{object_type:02x}.{audio_object_type}"
        at += length
    return None
