"""What a refused file is told it is, from its first bytes (the media matrix runs the rest through
the real ffprobe)."""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile

import pytest

from reelstack.media import identify


def _tar() -> bytes:
    folder = io.BytesIO()
    with tarfile.open(fileobj=folder, mode="w") as archive:
        entry = tarfile.TarInfo("clip.mp4")
        entry.size = 4
        archive.addfile(entry, io.BytesIO(b"\0\0\0\0"))
    return folder.getvalue()


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (bz2.compress(b"a video, once"), "is bzip2-compressed data"),
        (lzma.compress(b"a video, once"), "is xz-compressed data"),
        (b"7z\xbc\xaf\x27\x1c\0\x04" + bytes(24), "is a 7-Zip archive"),
        (b"Rar!\x1a\x07\x01\0" + bytes(24), "is a RAR archive"),
        (_tar(), "is a tar archive"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "is a PDF document"),
        (b"<!DOCTYPE html>\n<html><body>my video</body></html>\n", "is a web page (HTML)"),
        ("\ufeff1\n00:00:01,000 --> 00:00:02,000\nBOM first\n".encode(), "is SubRip (SRT) subtitles"),
        (b"[Script Info]\nScriptType: v4.00+\n", "is SubStation Alpha (ASS) subtitles"),
        (b"II*\0\x08\0\0\0" + bytes(16), "is a TIFF picture"),
    ],
)
def test_the_first_bytes_name_the_file(head: bytes, says: str) -> None:
    kind = identify.by_bytes(head)
    assert kind is not None and says in kind.sentence
    assert "points to" not in kind.sentence


@pytest.mark.parametrize(
    "words",
    [
        b"Remember: the playlist is at http://example.com/live.m3u8 and #EXTM3U starts it\n",
        b"v=0 of the edit, see ffconcat version 1.0 notes\n",
    ],
)
def test_text_that_mentions_addresses_does_not_point_anywhere(words: bytes) -> None:
    """Only a playlist, a concat script or a stream description points elsewhere; notes that talk
    about them are plain text."""
    kind = identify.by_bytes(words)
    assert kind is not None and kind.sentence == "the file is plain text, not a video or audio file"


def test_media_and_binary_noise_are_left_to_ffmpeg() -> None:
    """An MP4's or a WAV's bytes, and bytes with control characters, are no kind named here."""
    assert identify.by_bytes(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41" + bytes(64)) is None
    assert identify.by_bytes(b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0" + bytes(32)) is None
    assert identify.by_bytes(bytes(range(256))) is None
