"""Chunked encoding, measured here and modelled for AWS Lambda (docs/architecture.md, "Growing past
one Lambda").

The local run splits a generated 1080p30 clip at keyframes into chunks whose boundaries are
multiples of the 6 s segment, encodes each chunk separately with the project's own command (the
480p rung, video only; audio is encoded once, whole, as the architecture page plans), joins the
chunks without re-encoding, muxes the audio back, and compares with the single-process encode of
the same rendition: frame count, duration, A/V sync, size, and time (sum of chunks, and the longest
chunk, which is the latency when chunks run in parallel).

The model takes the measured per-chunk cost (CPU-seconds per second of video for the whole ladder,
from bench/results/transcode.json when present, else measured here for one rung and scaled by
pixels) and prints latency and cost for a 10-minute 1080p video as N parallel chunks on Lambda with
1,769 MB (one vCPU). Its assumptions are in ASSUMPTIONS and in the printed table.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, cached_clip, write_results
from reelstack.media import ffmpeg, render
from reelstack.media.ladder import plan_ladder
from reelstack.media.toolchain import ffmpeg_build
from reelstack_cli import media as generated

SECONDS = int(os.environ.get("BENCH_CHUNK_SOURCE_SECONDS", "60"))
CHUNK_SECONDS = int(os.environ.get("BENCH_CHUNK_SECONDS", "12"))
RUNG = os.environ.get("BENCH_CHUNK_RUNG", "480p")  # a multiple of the 6 s segment
ASSUMPTIONS = {
    "videoMinutes": 10,
    "lambdaMemoryMb": 1769,  # one vCPU
    "lambdaUsdPerGbSecond": 0.0000166667,  # x86, us-east-1
    "lambdaUsdPerRequest": 0.0000002,
    "stepFunctionsUsdPerTransition": 0.000025,
    "transitionsPerChunk": 3,  # Map iteration: start, task, end (Distributed Map child workflows, standard)
    "overheadSecondsPerChunk": 3.0,  # cold start, source range GET, segment uploads (docs/figures.md)
    "joinSeconds": 2.0,  # write the playlists from the chunks' segment lists
}


def _run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def _probe(path: Path) -> dict[str, Any]:
    command = [
        generated.ffprobe(), "-v", "error", "-count_frames", "-of", "json",
        "-show_entries", "stream=codec_type,nb_read_frames,start_time,duration:format=duration,size", str(path),
    ]  # fmt: skip
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def _keyframes(path: Path) -> list[float]:
    command = [
        generated.ffprobe(), "-v", "error", "-skip_frame", "nokey", "-select_streams", "v:0",
        "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [float(line.strip(",")) for line in output.split() if line.strip(",")]


def _ffmpeg(*arguments: str) -> list[str]:
    return [generated.ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]


def _encode_command(
    source: Path, info: Any, rung: Any, plan: Any, out: Path, start: float | None, end: float | None
) -> list:
    """The project's x264 settings for one rung, video only, for the whole source or one chunk."""
    command = ffmpeg.transcode_command(source, info, replace(plan, renditions=[rung], has_audio=False), out.parent)
    # Keep the encoder settings, drop the HLS muxing: write one MP4 per chunk for a lossless join.
    encoder = command[command.index("-filter_complex") : command.index("-f")]
    seek = ["-ss", f"{start:.3f}", "-to", f"{end:.3f}"] if start is not None else []
    return _ffmpeg(*seek, "-i", str(source), *encoder, "-an", str(out))


def measure(work: Path) -> dict[str, Any]:
    os.environ.setdefault("FFMPEG_PATH", generated.ffmpeg())
    os.environ.setdefault("FFPROBE_PATH", generated.ffprobe())
    source = cached_clip(SECONDS)
    info = render.inspect(source, lambda: 60, work)
    plan = plan_ladder(info)
    # The 480p rung: what chunking changes is the same for every rung, and this one keeps `make bench` short.
    rung = next(rendition for rendition in plan.renditions if rendition.name == RUNG)

    keyframes = _keyframes(source)
    cuts = [0.0]
    for wanted in range(CHUNK_SECONDS, math.ceil(info.duration_seconds), CHUNK_SECONDS):
        cuts.append(min(keyframes, key=lambda time_: abs(time_ - wanted)))
    cuts.append(info.duration_seconds)

    print("chunking: single-process encode", file=sys.stderr, flush=True)
    single_video = work / "single.mp4"
    single_seconds = _run(_encode_command(source, info, rung, plan, single_video, None, None))
    chunk_seconds = []
    chunk_files = []
    for index, (start, end) in enumerate(itertools.pairwise(cuts)):
        print(f"chunking: chunk {index + 1}/{len(cuts) - 1} ({start:.1f}-{end:.1f} s)", file=sys.stderr, flush=True)
        chunk = work / f"chunk{index:03d}.mp4"
        chunk_seconds.append(_run(_encode_command(source, info, rung, plan, chunk, start, end)))
        chunk_files.append(chunk)
    listing = work / "chunks.txt"
    listing.write_text("".join(f"file '{path.name}'\n" for path in chunk_files))
    audio = work / "audio.m4a"
    audio_seconds = _run(_ffmpeg("-i", str(source), "-vn", "-c:a", "aac", "-b:a", "128k", str(audio)))
    joined = work / "joined.mp4"
    join_seconds = _run(
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(audio), "-map", "0:v", "-map", "1:a",
                "-c", "copy", str(joined))
    )  # fmt: skip
    single = work / "single-av.mp4"
    _run(_ffmpeg("-i", str(single_video), "-i", str(audio), "-map", "0:v", "-map", "1:a", "-c", "copy", str(single)))

    def facts(path: Path) -> dict[str, Any]:
        probed = _probe(path)
        video = next(s for s in probed["streams"] if s["codec_type"] == "video")
        audio_stream = next(s for s in probed["streams"] if s["codec_type"] == "audio")
        return {
            "frames": int(video["nb_read_frames"]),
            "durationSeconds": round(float(probed["format"]["duration"]), 3),
            "avOffsetSeconds": round(abs(float(video.get("duration", 0)) - float(audio_stream.get("duration", 0))), 3),
            "bytes": int(probed["format"]["size"]),
        }

    single_facts, joined_facts = facts(single), facts(joined)
    return {
        "source": f"{SECONDS} s 1080p30, rendition {RUNG} (video), {len(chunk_files)} chunks of ~{CHUNK_SECONDS} s",
        "chunkBoundariesSeconds": [round(cut, 3) for cut in cuts],
        "single": {**single_facts, "encodeSeconds": round(single_seconds, 2)},
        "joined": {
            **joined_facts,
            "encodeSecondsSum": round(sum(chunk_seconds), 2),
            "encodeSecondsLongestChunk": round(max(chunk_seconds), 2),
            "audioSeconds": round(audio_seconds, 2),
            "joinSeconds": round(join_seconds, 2),
        },
        "checks": {
            "sameFrameCount": single_facts["frames"] == joined_facts["frames"],
            "durationDifferenceSeconds": round(
                abs(single_facts["durationSeconds"] - joined_facts["durationSeconds"]), 3
            ),
            "sizeDifferencePercent": round(100 * (joined_facts["bytes"] / single_facts["bytes"] - 1), 2),
            "timeOverheadPercent": round(100 * (sum(chunk_seconds) / single_seconds - 1), 1),
        },
        "cpuSecondsPerVideoSecondOneCore": round(sum(chunk_seconds) / info.duration_seconds, 3),
    }


def model(cpu_seconds_per_video_second: float) -> list[dict[str, Any]]:
    """Latency and cost of a 10-minute 1080p ladder as N chunks, each on a 1-vCPU Lambda."""
    video_seconds = ASSUMPTIONS["videoMinutes"] * 60
    rows = []
    for chunks in (1, 5, 10, 25, 50, 100):
        per_chunk = video_seconds / chunks * cpu_seconds_per_video_second + ASSUMPTIONS["overheadSecondsPerChunk"]
        latency = per_chunk + ASSUMPTIONS["joinSeconds"]
        gb_seconds = chunks * per_chunk * ASSUMPTIONS["lambdaMemoryMb"] / 1024
        cost = (
            gb_seconds * ASSUMPTIONS["lambdaUsdPerGbSecond"]
            + chunks * ASSUMPTIONS["lambdaUsdPerRequest"]
            + chunks * ASSUMPTIONS["transitionsPerChunk"] * ASSUMPTIONS["stepFunctionsUsdPerTransition"]
        )
        rows.append(
            {
                "chunks": chunks,
                "chunkSeconds": round(video_seconds / chunks, 1),
                "latencySeconds": round(latency, 1),
                "fitsOneLambda": per_chunk <= 900,
                "usd": round(cost, 4),
            }
        )
    return rows


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        measured = measure(Path(scratch))
    transcode = RESULTS_DIR / "transcode.json"
    if transcode.exists():
        ladder = json.loads(transcode.read_text())
        project = ladder["median"]["ladder, one process (project)"]
        seconds = float(ladder["source"].split()[0])
        # CPU-seconds of the whole ladder per second of video: what one vCPU must spend.
        per_second = project["cpuSeconds"] / seconds
        basis = f"bench/results/transcode.json: the 4-rung ladder costs {per_second:.2f} CPU-s per video second"
    else:
        per_second = measured["cpuSecondsPerVideoSecondOneCore"] * (2.07 + 0.92 + 0.41 + 0.23) / 0.41  # by pixels
        basis = f"{RUNG} measured here, scaled by the ladder's pixels"
    return write_results(
        "chunking",
        {"measured": measured, "model": model(per_second)},
        None,
        ffmpeg=ffmpeg_build().version,
        modelBasis=basis,
        assumptions=ASSUMPTIONS,
    )


def report(record: dict[str, Any]) -> None:
    measured = record["median"]["measured"]
    single, joined, checks = measured["single"], measured["joined"], measured["checks"]
    print(f"chunked encoding, measured: {measured['source']}")
    print(
        f"  single process   {single['frames']} frames, {single['durationSeconds']} s, {single['bytes']} bytes, "
        f"encode {single['encodeSeconds']} s"
    )
    print(
        f"  chunks joined    {joined['frames']} frames, {joined['durationSeconds']} s, {joined['bytes']} bytes, "
        f"encode {joined['encodeSecondsSum']} s in all, longest chunk {joined['encodeSecondsLongestChunk']} s"
    )
    print(
        f"  same frame count: {checks['sameFrameCount']}; duration differs by {checks['durationDifferenceSeconds']} s;"
        f" A/V offset single {single['avOffsetSeconds']} s, joined {joined['avOffsetSeconds']} s;"
        f" size {checks['sizeDifferencePercent']:+} %; encode time {checks['timeOverheadPercent']:+} %"
    )
    print(f"model: {record['modelBasis']}; 10-minute 1080p ladder on 1,769 MB Lambdas")
    print(f"  {'chunks':>6} {'chunk s':>8} {'latency s':>10} {'fits 900 s':>11} {'USD':>8}")
    for row in record["median"]["model"]:
        print(f"  {row['chunks']:>6} {row['chunkSeconds']:>8} {row['latencySeconds']:>10} "
              f"{row['fitsOneLambda']!s:>11} {row['usd']:>8}")  # fmt: skip


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    measured = record["median"]["measured"]
    single, joined, checks = measured["single"], measured["joined"], measured["checks"]
    by_chunks = {row["chunks"]: row for row in record["median"]["model"]}
    one, ten = by_chunks[1], by_chunks[10]
    return [
        (
            f"Chunked encode, {measured['source'].split(',')[0]}, {measured['source'].split(', ')[1]} in "
            f"{len(measured['chunkBoundariesSeconds']) - 1} chunks",
            f"longest chunk {joined['encodeSecondsLongestChunk']} s; {joined['frames']} frames, "
            f"size {checks['sizeDifferencePercent']:+} %",
            f"single process {single['encodeSeconds']} s; {single['frames']} frames",
            f"{single['encodeSeconds'] / joined['encodeSecondsLongestChunk']:.1f}x lower latency",
        ),
        (
            "Model: 10-minute 1080p ladder on 1,769 MB Lambdas",
            f"10 chunks: {ten['latencySeconds']} s, ${ten['usd']}",
            f"1 Lambda: {one['latencySeconds']} s, ${one['usd']}"
            + ("" if one["fitsOneLambda"] else " (over Lambda's 900 s limit)"),
            f"{one['latencySeconds'] / ten['latencySeconds']:.1f}x lower latency",
        ),
    ]
