"""Running FFmpeg on real files: what a step still makes when time or the header runs out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reelstack.errors import MediaLimitExceeded, UnsupportedMedia
from reelstack.media import ffmpeg
from reelstack.media.limits import MediaLimits
from reelstack_cli import media as test_media
from tests.media_cases import probe


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


def test_segments_that_left_ffmpegs_window_before_anyone_looked_are_measured_from_their_files(
    tmp_path: Path,
) -> None:
    """FFmpeg lists only its last few segments. A watcher that was slow (an upload took long) finds a
    gap; the log measures those segments from their files and the playlist keeps every one of them."""
    from reelstack.media import hls, render
    from reelstack.media.ladder import plan_ladder

    clip = test_media.make_clip(tmp_path / "phone.mp4", test_media.Clip(15, 426, 240, "25", gop_seconds=2))
    media = render.inspect(clip, lambda: 60, tmp_path)
    plan = plan_ladder(media)
    finished = tmp_path / "finished"
    made = render.encode_ladder(clip, media, plan, finished, lambda: 60)
    name = plan.renditions[0].name
    everything = made.progress[name].segments
    # Short first, then up to 6 s: exact to a frame (1/25 s), whether read from FFmpeg's playlist or
    # measured from the file (a small clip may outrun its watcher; which path ran depends on the machine).
    assert [file for file, _ in everything] == [f"segment_{n:05d}.m4s" for n in range(6)]
    assert [seconds for _, seconds in everything] == pytest.approx([2, 2, 2, 2, 4, 3], abs=0.04)

    out = tmp_path / "out"
    shutil.copytree(finished, out, ignore=shutil.ignore_patterns("*.m3u8"))
    init = made.progress[name].init or "init.mp4"
    log = render.SegmentLog(plan, out, lambda: 60)
    for seen in (1, 5, 6):  # the watcher looks after the first segment, then only after the fifth
        window = everything[:seen][-ffmpeg.SHORT_SEGMENTS_WINDOW :]
        (out / name / "index.m3u8").write_text(hls.event_playlist(window, init, 6, ended=False))
        progress = log.update()[name]
        assert [file for file, _ in progress.segments] == [file for file, _ in everything[:seen]]
    assert [seconds for _, seconds in progress.segments] == pytest.approx([2, 2, 2, 2, 4, 3], abs=0.04)


def _frames(path: Path) -> int:
    """Frames in a preview: PIL for the animated WebP (ffprobe cannot read one), ffprobe for the MP4."""
    from PIL import Image

    if path.suffix == ".webp":
        with Image.open(path) as animated:
            return animated.n_frames
    return int(probe(path, "-count_frames")["streams"][0]["nb_read_frames"])


@pytest.mark.parametrize(("seconds", "runs"), [(9, 1), (4, 2)])
def test_both_previews_come_from_one_decode_of_their_moment_where_they_share_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: int, runs: int
) -> None:
    """Decoding the source is most of a preview's cost (a 1080p phone video): past about 5 s both
    previews start a quarter in and one FFmpeg run makes both, the same as two runs would; a shorter
    video's two moments differ, and each is made on its own."""
    from reelstack.media import render

    clip = test_media.make_clip(tmp_path / "clip.mov", test_media.Clip(seconds, 640, 360, "25", gop_seconds=3))
    media = render.inspect(clip, lambda: 60, tmp_path)
    ran: list[list[str]] = []
    real_run = ffmpeg.run
    monkeypatch.setattr(
        ffmpeg, "run", lambda command, *args, **kwargs: ran.append(command) or real_run(command, *args, **kwargs)
    )
    together, alone = tmp_path / "together", tmp_path / "alone"
    together.mkdir(), alone.mkdir()
    made = render.make_previews(clip, media, together, lambda: 60)
    assert len(ran) == runs and not made.warnings
    ffmpeg.run(ffmpeg.preview_command(clip, media, alone / "preview.mp4"), 60, alone)
    ffmpeg.run(ffmpeg.animated_command(clip, media, alone / "preview.webp"), 60, alone)
    for name in ("preview.mp4", "preview.webp"):
        assert _frames(together / name) == _frames(alone / name) > 0, name
    assert probe(together / "preview.mp4")["streams"][0]["width"] == 480


def test_previews_that_cannot_be_made_together_are_made_each_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the one run for both fails, nothing it half-wrote stays and each preview gets its own run
    (and, failing, its own warning)."""
    from reelstack.media import render

    clip = test_media.make_clip(tmp_path / "clip.mp4", test_media.Clip(8, 320, 240, "30"))
    media = render.inspect(clip, lambda: 60, tmp_path)
    real_command = ffmpeg.previews_command
    broken = lambda *args: [*real_command(*args)[:-1], "-c:v", "no-such-encoder", str(args[-1])]  # noqa: E731
    monkeypatch.setattr(ffmpeg, "previews_command", broken)
    out = tmp_path / "previews"
    out.mkdir()
    made = render.make_previews(clip, media, out, lambda: 60)
    assert not made.warnings and set(made.files) == {"preview.mp4", "preview.webp"}
    assert _frames(out / "preview.webp") == 30
