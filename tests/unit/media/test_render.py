"""Running FFmpeg on real files: what a step still makes when time or the header runs out."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelstack.errors import MediaLimitExceeded, UnsupportedMedia
from reelstack.media import ffmpeg
from reelstack.media.probe import MediaLimits
from reelstack_cli import media as test_media


def test_a_storyboard_out_of_time_costs_the_storyboard_not_the_poster(tmp_path: Path) -> None:
    """A long screen recording with one keyframe: the storyboard must decode every frame and may not
    finish in time. The poster is kept and the storyboard becomes a warning."""
    from reelstack.media import render

    clip = test_media.make_clip(tmp_path / "one-keyframe.mp4", test_media.Clip(3, 320, 240, gop_seconds=None))
    media = render.inspect(clip, lambda: 60, tmp_path)
    out = tmp_path / "thumbnails"
    out.mkdir()
    made = render.make_thumbnails(clip, media, out, lambda: render.STORYBOARD_MARGIN_SECONDS - 1)
    assert (out / "poster.jpg").stat().st_size > 0
    assert not (out / "storyboard.jpg").exists()
    assert [warning.code for warning in made.warnings] == ["NoStoryboard"]
    assert "time" in made.warnings[0].message


def test_what_the_header_shows_is_refused_before_the_packet_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over the limits is not read to its end: the header is enough to refuse it."""
    from reelstack.media import render
    from tests.media_cases import BY_NAME

    scans: list[Path] = []
    scan_command = ffmpeg.packet_scan_command
    monkeypatch.setattr(ffmpeg, "packet_scan_command", lambda source: scans.append(source) or scan_command(source))
    for name, code in (("seventeen-audio-streams", "TooManyStreams"), ("pixel-bomb-12-megapixels", "ResolutionTooHigh"),
                       ("frame-rate-1000fps", "FrameRateTooHigh")):  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises((MediaLimitExceeded, UnsupportedMedia)) as refused:
            render.inspect(BY_NAME[name].make(folder), lambda: 60, folder)
        assert refused.value.code == code
    assert scans == []
    short = test_media.make_clip(tmp_path / "short.mp4", test_media.Clip(1, 160, 120, audio="none"))
    with pytest.raises(MediaLimitExceeded, match="at most 0 minutes"):
        render.inspect(short, lambda: 60, tmp_path, MediaLimits(max_duration_seconds=0.5))
    assert scans == []
