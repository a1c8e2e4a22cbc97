"""The top-level boxes of an MP4 or QuickTime file (ISO BMFF), found from their headers alone.

Phones write MP4 and MOV: a few top-level boxes, the media data in one ``mdat`` and the index of every
sample (timestamps, sizes, keyframes) in ``moov``. What the probe reads (ffprobe's header and its packet
scan) is in the boxes other than ``mdat``, and in the first frames (what only the stream says: pixel
format, profile, colour), so a copy of the file with only those written, and holes for the rest of
the media data, describes the file as the whole file does, for the price of a few range requests
(reelstack.pipeline.steps.header_copy). A file laid out any other way
(fragmented MP4, many boxes, a box that runs past the end) is read whole, as before.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ReadRange = Callable[[int, int], bytes]  # (offset, length) -> at most length bytes from offset

# The boxes a plain (not fragmented) MP4/MOV has at the top; any other layout is read whole.
PLAIN_LAYOUT = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"pdin", b"udta"})
SKIPPED = frozenset({b"mdat", b"free", b"skip"})  # media data and padding: left as holes
MAX_BOXES = 16
MAX_HEADER_BYTES = 64 * 1024 * 1024  # a 2-hour 60 fps index is a few MB; more is not a phone's file
MEDIA_HEAD_BYTES = 8 * 1024 * 1024  # the first seconds of the media data, even at 16 Mbit/s


@dataclass(frozen=True)
class Box:
    offset: int
    size: int
    kind: bytes

    @property
    def end(self) -> int:
        return self.offset + self.size


def plain_layout(read: ReadRange, size: int) -> list[Box] | None:
    """The file's top-level boxes when it is a plain MP4/MOV whose boxes tile it exactly, else None
    (the caller reads the file whole and lets the probe name whatever is wrong with it)."""
    boxes: list[Box] = []
    offset = 0
    while offset < size:
        if len(boxes) == MAX_BOXES:
            return None
        head = read(offset, 16)
        if len(head) < 8:
            return None
        declared, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if declared == 1:  # a 64-bit size follows the type
            if len(head) < 16:
                return None
            declared, header = struct.unpack(">Q", head[8:16])[0], 16
        elif declared == 0:  # the last box, to the end of the file
            declared = size - offset
        if kind not in PLAIN_LAYOUT or declared < header or offset + declared > size:
            return None
        boxes.append(Box(offset, declared, kind))
        offset += declared
    if b"moov" not in {box.kind for box in boxes} or sum(box.size for box in kept(boxes)) > MAX_HEADER_BYTES:
        return None
    return boxes


def kept(boxes: list[Box]) -> list[Box]:
    """The boxes a header copy holds: all but the media data and the padding."""
    return [box for box in boxes if box.kind not in SKIPPED]


def write_header_copy(read: ReadRange, size: int, target: Path, media_head: int = MEDIA_HEAD_BYTES) -> bool:
    """``target``: a sparse file of ``size`` bytes holding the plain MP4/MOV's boxes but its media data,
    each at its place, and the first ``media_head`` bytes of the media data (ffprobe decodes the first
    frames for what only the stream itself says: pixel format, profile, colour); False (nothing
    written) for any other layout. Its packets are read from the index (ffmpeg.packet_scan_command's
    ``from_index``): their data is zeros past the head."""
    found = plain_layout(read, size)
    if found is None:
        return False
    media = next((box for box in found if box.kind == b"mdat"), None)
    head = (media.offset, min(media.size, media_head)) if media is not None else (0, 0)
    with target.open("wb") as out:
        out.truncate(size)
        for box in found:
            # Whole boxes; the skipped ones' headers (16 bytes: with a 64-bit size) for the demuxer to step over.
            data = read(box.offset, box.size if box.kind not in SKIPPED else min(box.size, 16))
            if box.kind == b"moov":
                data = point_past_head_at_head(data, head[0] + 16, head[0] + head[1])
            out.seek(box.offset)
            out.write(data)
        if head[1]:
            out.seek(head[0])
            out.write(read(*head))
    return True


CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})  # the path to the chunk offsets


def point_past_head_at_head(moov: bytes, head_start: int, head_end: int) -> bytes:
    """``moov`` with every chunk offset (stco, co64) past the copied head of the media data pointed at
    its start. The packet scan reads each packet's bytes though it uses only the index: read from
    holes, a long file's gigabyte of zeros would fill the page cache (about a second per 400 MB here);
    read from the head, they are the same few cached megabytes. The chunks in the head, the first
    frames the header probe decodes, keep their places."""
    data = bytearray(moov)

    def walk(start: int, end: int) -> None:
        offset = start
        while offset + 8 <= end:
            size, kind = struct.unpack(">I4s", data[offset : offset + 8])
            if size < 8 or offset + size > end:
                return
            if kind in CONTAINERS:
                walk(offset + 8, offset + size)
            elif kind in (b"stco", b"co64") and size >= 16:
                width, form = (4, ">I") if kind == b"stco" else (8, ">Q")
                (count,) = struct.unpack(">I", data[offset + 12 : offset + 16])
                for entry in range(min(count, (size - 16) // width)):
                    at = offset + 16 + entry * width
                    (chunk,) = struct.unpack(form, data[at : at + width])
                    if chunk >= head_end:
                        data[at : at + width] = struct.pack(form, head_start)
            offset += size

    walk(8, len(data))
    return bytes(data)
