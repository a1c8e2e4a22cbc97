"""Chunked encoding on real files: the plan on the segment grid, and chunks that join into the same
video as the one-piece encode (frames, timeline, audio), whatever the source's keyframes."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from reelstack.media import ffmpeg, render
from reelstack.media.chunks import TIMELINE_OFFSET_SECONDS, plan_chunks
from reelstack.media.ladder import plan_ladder
from reelstack_cli.media import Clip, make_clip
from tests.media_cases import playlist_probe, probe
from tests.unit.media.test_matrix import seconds_left


def test_short_videos_are_one_chunk_and_long_ones_cut_on_the_segment_grid() -> None:
    assert [(c.start_seconds, c.end_seconds) for c in plan_chunks(10, 60, 6)] == [(0, 10)]
    assert len(plan_chunks(600, 0, 6)) == 1  # chunking off
    chunks = plan_chunks(130, 40, 6)  # 40 s is not whole segments: 36 s chunks
    assert [(c.start_seconds, c.first_segment) for c in chunks] == [(0, 0), (36, 6), (72, 12), (108, 18)]
    assert chunks[-1].end_seconds == 130
    # A last piece shorter than one segment joins the chunk before it instead of costing an encode.
    assert [(c.start_seconds, c.end_seconds) for c in plan_chunks(25, 12, 6)] == [(0, 12), (12, 25)]


def _frame_psnr(first: Path, second: Path) -> list[float]:
    """Per-frame PSNR (luma and chroma) of two renditions' decoded pictures, frame by frame."""
    stats = first.parent.parent / "psnr.log"
    subprocess.run(
        [ffmpeg.find_binary("ffmpeg"), "-v", "error", "-allowed_extensions", "ALL", "-i", str(first),
         "-allowed_extensions", "ALL", "-i", str(second), "-lavfi", f"[0:v][1:v]psnr=stats_file={stats}",
         "-f", "null", "-"], check=True, capture_output=True,
    )  # fmt: skip
    return [float(value) for value in re.findall(r"psnr_avg:([0-9.inf]+)", stats.read_text().replace("inf", "99"))]


def _frames(playlist: Path) -> int:
    counted = playlist_probe_counting(playlist)
    return int(next(s for s in counted["streams"] if s["codec_type"] == "video")["nb_read_frames"])


def playlist_probe_counting(playlist: Path) -> dict:
    return probe(playlist, "-protocol_whitelist", "file", "-allowed_extensions", "ALL", "-count_frames")


def _first_packet(playlist: Path, kind: str) -> float:
    """The time of the first packet of the playlist's ``kind`` (v or a) stream."""
    command = [ffmpeg.find_binary("ffprobe"), "-v", "error", "-protocol_whitelist", "file", "-allowed_extensions",
               "ALL", "-select_streams", kind, "-show_entries", "packet=pts_time", "-of", "csv=p=0",
               "-read_intervals", "%+#1", str(playlist)]  # fmt: skip
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()[0])


def _start(probed: dict, kind: str) -> float:
    return float(next(s for s in probed["streams"] if s["codec_type"] == kind)["start_time"])


@pytest.mark.parametrize(
    "recipe",
    [
        Clip(14, 854, 480, "30", gop_seconds=1.0),  # a phone's 1 s GOP; two rungs
        Clip(14, 854, 480, "25", gop_seconds=None),  # one keyframe: every chunk decodes from the start
    ],
    ids=["gop-1s-30fps", "one-keyframe-25fps"],
)
def test_chunks_join_into_the_same_video_as_one_piece(recipe: Clip, tmp_path: Path) -> None:
    source = make_clip(tmp_path / f"source{recipe.suffix}", recipe)
    media = render.inspect(source, seconds_left, tmp_path)
    plan = plan_ladder(media, chunk_seconds=6)
    assert len(plan.chunks) == 2  # 0-6 and 6-14 (the 2 s after 12 s join the last chunk)

    whole = tmp_path / "whole"
    render.encode_ladder(source, media, replace(plan, chunks=plan.chunks[:1]), whole, seconds_left)
    chunked = tmp_path / "chunked"
    reports = []
    for chunk in reversed(plan.chunks):  # in any order, as a Map finishes them
        _, segments = render.chunk_renditions(source, media, plan, chunk, chunked, seconds_left)
        reports.insert(0, segments)
    render.audio_rendition(source, media, plan, chunked, seconds_left)
    render.write_joined_playlists(plan, reports, chunked)

    # Segment for segment the rungs cut at the same moments: their IDR frames line up for switching.
    lists = {
        r.name: re.findall(r"#EXTINF:([0-9.]+)", (chunked / r.name / "index.m3u8").read_text()) for r in plan.renditions
    }
    assert len(lists) >= 2 and len({tuple(durations) for durations in lists.values()}) == 1
    master = (chunked / "master.m3u8").read_text()
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in master and 'AUDIO="audio"' in master
    for rendition in plan.renditions:
        playlist = (chunked / rendition.name / "index.m3u8").read_text()
        durations = [float(value) for value in re.findall(r"#EXTINF:([0-9.]+)", playlist)]
        target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", playlist).group(1))
        # The first chunk starts with 2 s segments (a player starts sooner), the others keep the 6 s grid.
        assert re.findall(r"^(\w+)_(\d+)\.m4s$", playlist, re.MULTILINE) == [
            *[("start", f"{n:05d}") for n in range(3)], ("segment", "00001"), ("segment", "00002"),
        ]  # fmt: skip
        assert [round(seconds) for seconds in durations] == [2, 2, 2, 6, 2]
        assert max(durations) <= target and abs(sum(durations) - media.duration_seconds) < 0.1
        # Every frame where the one-piece encode has it: nothing frozen, repeated or dropped at a cut.
        psnr = _frame_psnr(chunked / rendition.name / "index.m3u8", whole / rendition.name / "index.m3u8")
        frames = [_frames(folder / rendition.name / "index.m3u8") for folder in (chunked, whole)]
        assert frames[0] == frames[1] == len(psnr) == round(14 * float(plan.fps)), rendition.name
        assert min(psnr) > 35, (rendition.name, psnr.index(min(psnr)))
    # The timeline runs on from chunk to chunk, and the audio starts with the picture as when muxed.
    # (From the first packets, as a player times them: a demuxer's start_time depends on how long the
    # first segment is.)
    joined = playlist_probe(chunked / "master.m3u8")
    assert _start(joined, "video") == pytest.approx(TIMELINE_OFFSET_SECONDS, abs=0.001)
    rung = plan.renditions[0].name
    offset_joined = _first_packet(chunked / "audio" / "index.m3u8", "a") - _first_packet(
        chunked / rung / "index.m3u8", "v"
    )
    offset_whole = _first_packet(whole / rung / "index.m3u8", "a") - _first_packet(whole / rung / "index.m3u8", "v")
    assert offset_joined == pytest.approx(offset_whole, abs=0.001)
