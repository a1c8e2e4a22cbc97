"""Standard input on real files: the top rung is the source's own video (and AAC) packet for packet,
the rungs below are cut at the same moments, and the master says what the copied rung really is."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from reelstack.media import hls, render
from reelstack.media.ladder import plan_ladder
from reelstack_cli import media as test_media
from reelstack_cli.media import Clip
from tests.media_cases import HLS, Seen, check_rendition, source_facts

PHONES = {
    # A phone's 720p: High profile with B-frames, 29.97 fps, 2 s GOP, 44.1 kHz AAC, in a MOV.
    "high-bframes-2997-mov": Clip(
        13, 1280, 720, "30000/1001", container="mov", gop_seconds=2, x264_preset="veryfast", audio_rate=44100
    ),
    # A messenger's small video: Constrained Baseline, 25 fps, 1 s GOP, its index last, as a recorder writes it.
    "baseline-25fps-moov-last": Clip(9, 640, 360, "25", faststart=False, crf=30),
    # Keyframes 5 s apart (under a segment): segments are cut at them, up to 11 s long.
    "gop-5s-silent": Clip(12, 854, 480, "30", gop_seconds=5, x264_preset="faster", audio="none"),
}


def packets(path: Path, stream: str, *extra: str) -> list[tuple[int, str]]:
    """``(size, flags)`` of every packet of ``stream`` (v or a), in order."""
    command = [test_media.ffprobe(), "-v", "error", *extra, "-select_streams", stream,
               "-show_entries", "packet=size,flags", "-of", "csv=p=0", str(path)]  # fmt: skip
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return [(int(size), flags) for size, flags in (line.split(",")[:2] for line in lines)]


def sizes_of(listed: list[tuple[int, str]]) -> list[int]:
    return [size for size, _ in listed]


def keyframe_times(path: Path) -> list[float]:
    command = [test_media.ffprobe(), "-v", "error", *HLS, "-select_streams", "v", "-show_entries",
               "packet=pts_time,flags", "-of", "csv=p=0", str(path)]  # fmt: skip
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return [float(line.split(",")[0]) for line in lines if "K" in line.split(",")[1]]


@pytest.mark.parametrize("name", list(PHONES))
def test_standard_input_keeps_its_video_as_the_top_rung_cut_where_every_rung_is_cut(name: str, tmp_path: Path) -> None:
    source = test_media.make_clip(tmp_path / f"{name}{PHONES[name].suffix}", PHONES[name])
    media = render.inspect(source, lambda: 120, tmp_path)
    plan = plan_ladder(media)
    assert plan.copy_video, plan.renditions[0].passthrough
    out = tmp_path / "hls"
    out.mkdir()
    render.encode_ladder(source, media, plan, out, lambda: 120)

    top = out / plan.renditions[0].name / "index.m3u8"
    assert packets(top, "v", *HLS) == packets(source, "v")  # the same video, packet for packet
    if media.has_audio:
        # The same AAC packets (the source's first is flagged for discarding, its encoder's priming).
        assert plan.copy_audio and sizes_of(packets(top, "a", *HLS)) == sizes_of(packets(source, "a"))

    seen = Seen()
    facts = source_facts(source)
    top_keyframes = keyframe_times(top)
    playlists = {r.name: (out / r.name / "index.m3u8").read_text() for r in plan.renditions}
    durations = {name: [seconds for _, seconds in hls.playlist_segments(text)] for name, text in playlists.items()}
    for rendition in plan.renditions:
        check_rendition(seen, out, rendition.__dict__, facts, False, media.has_audio)
        text = playlists[rendition.name]
        assert f"#EXT-X-TARGETDURATION:{plan.target_duration}\n" in text and text.endswith("#EXT-X-ENDLIST\n")
        assert all(round(seconds) <= plan.target_duration for seconds in durations[rendition.name])
        # Every rung's segments start where the source has a keyframe (the copied top rung's), and the
        # rung has a keyframe there too.
        keyframes = keyframe_times(out / rendition.name / "index.m3u8")
        start, cuts = keyframes[0], []
        for seconds in durations[rendition.name][:-1]:
            start += seconds
            cuts.append(start)
        for cut in cuts:
            assert any(abs(cut - moment) < 0.002 for moment in keyframes), (rendition.name, cut)
            assert any(abs(cut - moment) < 0.002 for moment in top_keyframes), (rendition.name, cut)
    assert not seen.notes, seen.notes
    assert len({tuple(round(value, 3) for value in values) for values in durations.values()}) == 1, durations

    master = (out / "master.m3u8").read_text()
    copied = plan.renditions[0]
    line = next(line for line in master.splitlines() if f"RESOLUTION={copied.width}x{copied.height}" in line)
    sizes = [
        ((out / copied.name / file).stat().st_size, seconds)
        for file, seconds in hls.playlist_segments(playlists[copied.name])
    ]
    # Measured, not the plan's guess: the densest segment's bitrate (the short first ones count), the
    # last one left out if shorter than half the target (a frame or two of keyframe), never under the average.
    full = sizes[:-1] if len(sizes) > 1 and sizes[-1][1] < plan.target_duration / 2 else sizes
    average = sum(size for size, _ in sizes) * 8 / sum(seconds for _, seconds in sizes)
    peak = max([size * 8 / seconds for size, seconds in full] + [average])
    assert abs(int(re.search(r"BANDWIDTH=(\d+)", line).group(1)) - peak) <= 1, (line, sizes)
    assert abs(int(re.search(r"AVERAGE-BANDWIDTH=(\d+)", line).group(1)) - average) <= 1, (line, sizes)
    profile = {"veryfast": "64", "faster": "64", "ultrafast": "42"}[PHONES[name].x264_preset]
    assert re.search(rf'CODECS="avc1\.{profile}[0-9a-f]{{4}}', line), line


def test_a_source_with_one_copied_rung_and_nothing_to_encode(tmp_path: Path) -> None:
    """A 360p phone clip: its ladder is the one rung, copied; FFmpeg decodes nothing."""
    source = test_media.make_clip(tmp_path / "small.mp4", Clip(4, 640, 360, "30", crf=30))
    media = render.inspect(source, lambda: 60, tmp_path)
    plan = plan_ladder(media)
    assert [r.name for r in plan.renditions] == ["360p"] and plan.copy_video
    render.encode_ladder(source, media, plan, tmp_path / "hls", lambda: 60)
    assert packets(tmp_path / "hls" / "360p" / "index.m3u8", "v", *HLS) == packets(source, "v")


@pytest.mark.parametrize(("seconds", "kept"), [(600.021, True), (779.9, True), (781.0, False)])
def test_a_phones_ten_minute_video_keeps_its_top_rung_and_a_much_longer_one_is_chunked(
    seconds: float, kept: bool, tmp_path: Path
) -> None:
    """A phone's "10-minute" video lasts a little over 600 s (the AAC priming): it stays one piece with
    its own video on top, as any shorter one; past 13 minutes the video is encoded in chunks."""
    source = test_media.make_clip(tmp_path / "phone.mp4", PHONES["baseline-25fps-moov-last"])
    media = replace(render.inspect(source, lambda: 120, tmp_path), duration_seconds=seconds)
    plan = plan_ladder(media, chunk_seconds=60)
    assert (plan.copy_video, plan.chunked) == (kept, not kept), plan.renditions[0].passthrough
    if not kept:
        assert "over 13 minutes long" in plan.renditions[0].passthrough["reason"]
