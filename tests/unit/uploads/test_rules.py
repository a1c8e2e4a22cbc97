"""The pure upload rules: filenames, part plans."""

from __future__ import annotations

import pytest

from reelstack.config import Limits, MiB
from reelstack.uploads.service import plan_parts, safe_filename


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("IMG_0042.MOV", "IMG_0042.MOV"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.mp4", "evil.mp4"),
        ("clip\x00\x07\x1b[31m.mp4", "clip[31m.mp4"),
        ("mov\u202eie.mp4", "movie.mp4"),  # right-to-left override removed
        ("caf\udcc3\udca9.mp4", "caf\ufffd\ufffd.mp4"),  # non-UTF-8 bytes as JSON surrogates
        ("   ", "untitled"),
        ("...", "untitled"),
        (".hidden.mp4", "hidden.mp4"),
    ],
)
def test_filenames_are_stored_as_safe_display_text(raw: str, stored: str) -> None:
    assert safe_filename(raw) == stored


def test_very_long_filenames_are_cut_keeping_the_extension() -> None:
    name = safe_filename("a" * 5000 + ".mp4")
    assert len(name) == 255
    assert name.endswith(".mp4")


@pytest.mark.parametrize(
    ("size", "part_size", "part_count"),
    [
        (1, 8 * MiB, 1),
        (8 * MiB, 8 * MiB, 1),
        (8 * MiB + 1, 8 * MiB, 2),
        (200 * MiB, 8 * MiB, 25),
        (100 * 1024 * MiB, 11 * MiB, 9310),  # 100 GiB: parts grow so that S3's 10,000 are enough
    ],
)
def test_part_plan(size: int, part_size: int, part_count: int) -> None:
    assert plan_parts(size, Limits()) == (part_size, part_count)
    assert part_count <= 10_000
    assert part_size >= 5 * MiB
