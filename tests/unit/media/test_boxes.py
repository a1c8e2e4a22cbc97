"""The probe's header copy of an MP4/MOV (reelstack.media.boxes): the file's boxes but its media data, in
a sparse file. It must describe every file of the media matrix exactly as the whole file does (or
refuse it for the same reason), and stand aside for any layout it cannot copy."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from reelstack.errors import ReelstackError
from reelstack.media import boxes, render
from reelstack.media.probe import MediaInfo
from reelstack_cli import media as test_media
from tests.media_cases import MATRIX, Case

# The files an ISO BMFF copy can be made of, by the recipe's container (the rest are read whole).
BMFF_CASES = [case for case in MATRIX if case.outcome not in ("NotMedia", "UnsupportedContainer")]


def _reader(data: bytes) -> boxes.ReadRange:
    return lambda offset, length: data[offset : offset + length]


def _described(source: Path, work: Path, header_copy: bool = False) -> MediaInfo | str:
    try:
        return render.inspect(source, lambda: 120.0, work, header_copy=header_copy)
    except ReelstackError as refused:
        return refused.code


@pytest.mark.parametrize("case", BMFF_CASES, ids=[case.name for case in BMFF_CASES])
def test_a_header_copy_describes_the_file_as_the_whole_file_does(case: Case, tmp_path: Path) -> None:
    source = case.make(tmp_path)
    data = source.read_bytes()
    copy = tmp_path / "copy"
    # A head of 64 KiB, as a long video's 8 MiB is of it: the index's offsets past it are pointed at it.
    if not boxes.write_header_copy(_reader(data), len(data), copy, media_head=64 * 1024):
        # Read whole: not ISO BMFF, cut short, or a still image's HEIF/AVIF (boxes but no moov).
        assert data[4:8] != b"ftyp" or case.outcome in ("Truncated", "ImageOnly"), "a phone's MP4/MOV read whole"
        return
    kept = sum(box.size for box in boxes.kept(boxes.plain_layout(_reader(data), len(data)) or []))
    assert copy.stat().st_size == len(data) and kept < len(data) / 2  # the index, not the media data
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    # Where a keyframe's data is damaged, the parser no longer sees a keyframe there; the index still
    # says one is: the copy goes by the index (the encode decodes what it can either way).
    by_index = "damaged" in case.name
    expected = _described(source, tmp_path / "a", header_copy=by_index)
    assert _described(copy, tmp_path / "b", header_copy=True) == expected


def test_the_phones_layouts_are_copied_and_the_others_read_whole(tmp_path: Path) -> None:
    made = {
        "faststart": test_media.make_clip(tmp_path / "a.mp4", test_media.Clip(3, 320, 240)),
        "moov last": test_media.make_clip(tmp_path / "b.mov", test_media.Clip(3, 320, 240, faststart=False)),
        "hevc": test_media.make_clip(tmp_path / "c.mov", test_media.Clip(3, 320, 240, codec="hevc", container="mov")),
    }
    for name, path in made.items():
        data = path.read_bytes()
        copy = tmp_path / f"{name}.copy"
        assert boxes.write_header_copy(_reader(data), len(data), copy, media_head=32 * 1024), name
        # The index points the chunks past the head at it (the scan then reads cached bytes, not holes).
        moov = next(box for box in boxes.plain_layout(_reader(data), len(data)) or [] if box.kind == b"moov")
        copied = copy.read_bytes()
        assert len(copied) == len(data) and copied[moov.offset : moov.end] != data[moov.offset : moov.end], name
        (tmp_path / name).mkdir()
        assert _described(copy, tmp_path / name, header_copy=True) == _described(path, tmp_path / name), name

    whole = made["faststart"].read_bytes()
    fragmented = tmp_path / "fragmented.mp4"
    subprocess.run([test_media.ffmpeg(), "-v", "error", "-i", str(made["faststart"]), "-c", "copy", "-movflags",
                    "frag_keyframe+empty_moov", str(fragmented)], check=True)  # fmt: skip
    cases = {
        "cut short": whole[: len(whole) - 1000],  # the last box runs past the end
        "fragmented": fragmented.read_bytes(),  # moof boxes all through the file
        "a box too small for its header": whole[:8] + struct.pack(">I4s", 4, b"free") + whole[8:],
        "no moov": whole[: boxes.plain_layout(_reader(whole), len(whole))[1].offset],  # type: ignore[index]
        "not ISO BMFF": b"\x1aE\xdf\xa3" + whole[4:],
    }
    for name, data in cases.items():
        assert not boxes.write_header_copy(_reader(data), len(data), tmp_path / name), name
        assert not (tmp_path / name).exists()


def test_a_64_bit_box_size_and_a_box_to_the_end_are_followed(tmp_path: Path) -> None:
    path = test_media.make_clip(tmp_path / "a.mov", test_media.Clip(2, 160, 120, container="mov", faststart=False))
    data = path.read_bytes()
    found = boxes.plain_layout(_reader(data), len(data))
    assert found is not None
    mdat = next(box for box in found if box.kind == b"mdat")
    # The media data's box rewritten with a 64-bit size (as for a file over 4 GB) in place of the 8-byte
    # "wide" box before it, and, in another file, the last box's size 0 (to the end of the file).
    wide = next(box for box in found if box.kind == b"wide")
    large = bytearray(data)
    large[wide.offset : mdat.offset + 8] = struct.pack(">I4sQ", 1, b"mdat", mdat.size + 8)
    assert [box.kind for box in boxes.plain_layout(_reader(bytes(large)), len(large)) or []] == [
        box.kind for box in found if box.kind != b"wide"
    ]
    last = found[-1]
    open_ended = bytearray(data)
    open_ended[last.offset : last.offset + 4] = b"\0\0\0\0"
    assert boxes.plain_layout(_reader(bytes(open_ended)), len(open_ended)) == found
