"""FFmpeg work on one machine, each arm against its naive baseline, side by side, same input:

- transcoding: the project's ladder (one process, one decode, cascaded scaling, ``-var_stream_map``)
  against one FFmpeg process per rendition (what many samples do), with the same presets,
  bitrates, GOP and segmenting: the baseline is the project's own command for a one-rendition plan,
  run once per rendition;
- thumbnails: the project's poster (one seek) and storyboard (keyframes only) against the same
  poster and a storyboard decoded from every frame.

The previews' cost is measured end to end by bench/pipeline.py (they seek, so it barely grows with
the source's length, and a short clip here would overstate it per minute).

Wall time, CPU seconds (user + system of the FFmpeg processes) and the realtime factor; rounds run
the arms alternately; medians of ROUNDS; the FFmpeg version is recorded with the results.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import cached_clip, median, write_results
from reelstack.media import ffmpeg, render
from reelstack.media.ladder import plan_ladder
from reelstack.media.toolchain import ffmpeg_build
from reelstack_cli import media as generated

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_TRANSCODE_SECONDS", "10"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(commands: list[list[str]]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of running ``commands`` one after the other."""
    cpu, wall = _children_cpu(), time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - wall, _children_cpu() - cpu


def run() -> dict[str, Any]:
    os.environ.setdefault("FFMPEG_PATH", generated.ffmpeg())
    os.environ.setdefault("FFPROBE_PATH", generated.ffprobe())
    source = cached_clip(SECONDS)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        info = render.inspect(source, lambda: 60, work)
        plan = plan_ladder(info)

        def out(name: str) -> Path:
            folder = work / name
            folder.mkdir(exist_ok=True)
            return folder

        board = ffmpeg.plan_storyboard(info.duration_seconds, info.width, info.height)
        poster = ffmpeg.poster_command(source, info, 1.0, work / "poster.jpg")
        keyframes_only = ffmpeg.storyboard_command(source, info, board, work / "storyboard.jpg")
        assert "-skip_frame" in keyframes_only, "the bench clip has a keyframe every second"
        every_frame = [part for part in keyframes_only if part not in ("-skip_frame", "nokey")]
        arms = {
            "ladder, one process (project)": lambda: [ffmpeg.transcode_command(source, info, plan, out("ladder"))],
            "ladder, one process per rendition (baseline)": lambda: [
                ffmpeg.transcode_command(source, info, replace(plan, renditions=[rendition]), out(rendition.name))
                for rendition in plan.renditions
            ],
            "thumbnails, keyframes only (project)": lambda: [poster, keyframes_only],
            "thumbnails, every frame decoded (baseline)": lambda: [poster, every_frame],
        }
        raw: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
        for round_number in range(1, ROUNDS + 1):
            for arm, commands in arms.items():
                print(f"transcode round {round_number}/{ROUNDS}: {arm}", file=sys.stderr, flush=True)
                wall, cpu = _measure(commands())
                raw[arm].append({"wallSeconds": wall, "cpuSeconds": cpu})
    summary: dict[str, Any] = {}
    for arm, runs in raw.items():
        wall, cpu = median([r["wallSeconds"] for r in runs]), median([r["cpuSeconds"] for r in runs])
        summary[arm] = {
            "wallSeconds": round(wall, 2),
            "cpuSeconds": round(cpu, 2),
            "realtimeFactor": round(info.duration_seconds / wall, 2),
            "secondsPerSourceMinute": round(wall / (info.duration_seconds / 60), 2),
        }
    pairs = (
        ("ladder, one process (project)", "ladder, one process per rendition (baseline)"),
        ("thumbnails, keyframes only (project)", "thumbnails, every frame decoded (baseline)"),
    )
    for project, baseline in pairs:
        summary[project]["speedupOverBaseline"] = round(
            summary[baseline]["wallSeconds"] / summary[project]["wallSeconds"], 2
        )
    return write_results(
        "transcode",
        summary,
        raw,
        rounds=ROUNDS,
        ffmpeg=ffmpeg_build().version,
        source=f"{SECONDS} s 1080p30 H.264/AAC, {len(plan.renditions)} renditions",
    )


def report(record: dict[str, Any]) -> None:
    print(f"FFmpeg {record['ffmpeg']} on {record['source']}, medians of {record['rounds']} rounds")
    print(f"  {'arm':<46} {'wall s':>7} {'cpu s':>7} {'x realtime':>11} {'vs baseline':>12}")
    for arm, row in record["median"].items():
        ratio = f"{row['speedupOverBaseline']}x" if "speedupOverBaseline" in row else ""
        print(f"  {arm:<46} {row['wallSeconds']:>7} {row['cpuSeconds']:>7} {row['realtimeFactor']:>11} {ratio:>12}")


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = record["median"]
    ladder, naive = rows["ladder, one process (project)"], rows["ladder, one process per rendition (baseline)"]
    thumbs, every = rows["thumbnails, keyframes only (project)"], rows["thumbnails, every frame decoded (baseline)"]
    source = record["source"].split(",")[0]
    return [
        (
            f"Transcode, 4-rung HLS ladder ({source})",
            f"one process: {ladder['wallSeconds']} s, {ladder['cpuSeconds']} CPU-s, "
            f"{ladder['realtimeFactor']}x realtime",
            f"one process per rendition: {naive['wallSeconds']} s, {naive['cpuSeconds']} CPU-s, "
            f"{naive['realtimeFactor']}x realtime",
            f"{ladder['speedupOverBaseline']}x faster",
        ),
        (
            "Thumbnails (poster + storyboard)",
            f"keyframes only: {thumbs['wallSeconds']} s",
            f"every frame decoded: {every['wallSeconds']} s",
            f"{thumbs['speedupOverBaseline']}x faster",
        ),
    ]
