"""Time to playable and time to ready on the local cloud, by input and by length (issue 26).

Each upload's clock runs from the API's answer to ``complete`` to ``asset.playable``'s and
``asset.ready``'s ``occurredAt``, after a warm-up upload through each path (one piece, chunks).
Inputs, each 1080p30 with AAC stereo, as phones record them:

- **standard H.264**: about 6 Mbit/s, High with B-frames: its video is the top rung as it is (pass-through);
- **H.264 16 Mbit/s**: a phone's "most compatible" setting: over the pass-through cap, fully encoded;
- **HEVC 6 Mbit/s**: an iPhone's default: fully encoded.

Lengths (``BENCH_PLAYABLE_SECONDS``, default ``30,180,600``; the long ones last): a 60 s clip of
each input is made once per machine and cut or looped without re-encoding. Rounds per cell:
``BENCH_ROUNDS`` (default 5), ``BENCH_LONG_ROUNDS`` for videos over 3 minutes (default 1);
``BENCH_PLAYABLE_INPUTS`` picks inputs by key (``standard,h264-16m,hevc``). p50 and p95 (nearest
rank: with 5 uploads, the slowest). Beside each cell: the CPU-seconds the cloud's FFmpeg and ffprobe
processes spent on the upload, where the time went (each state's first start and last end, from the
execution's history), and, for the full encodes up to 3 minutes, the wall time of the one-piece
ladder command run alone on the same clip (the floor for time to ready on these cores;
``BENCH_LADDER_ALONE_UP_TO`` seconds, 0: never): before each upload up to a minute, and their median
(a single run of it varies by about 0.5 s from one to the next here), once before the longer ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import BenchCloud, deployed_cloud, median, percentile, pipeline_clients, write_results
from reelstack.media import render
from reelstack.media.ladder import plan_ladder
from reelstack_cli.media import Clip, ffmpeg, ffprobe, make_clip
from reelstack_cli.settings import LOCAL_DIR
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
LONG_ROUNDS = int(os.environ.get("BENCH_LONG_ROUNDS", "1"))
LENGTHS = sorted(int(value) for value in os.environ.get("BENCH_PLAYABLE_SECONDS", "30,180,600").split(","))
# The one-piece ladder alone is timed for full encodes up to this length (0: never).
LADDER_ALONE_UP_TO = int(os.environ.get("BENCH_LADDER_ALONE_UP_TO", "180"))
LADDER_ALONE_EVERY_ROUND_UP_TO = 60  # seconds of video: beside every upload up to this length, once past it
INPUTS: dict[str, tuple[str, Clip]] = {  # key -> (name, its 60 s recipe)
    "standard": ("standard H.264", Clip(60, 1920, 1080, "30", x264_preset="veryfast", crf=21)),
    "h264-16m": ("H.264 16 Mbit/s", Clip(60, 1920, 1080, "30", x264_preset="veryfast", bitrate=16_000_000)),
    "hevc": ("HEVC 6 Mbit/s", Clip(60, 1920, 1080, "30", codec="hevc", container="mov", bitrate=6_000_000)),
}
CHOSEN = [key for key in os.environ.get("BENCH_PLAYABLE_INPUTS", ",".join(INPUTS)).split(",") if key]
# (input, seconds) in running order: every chosen input at every length, or BENCH_PLAYABLE_CELLS
# ("hevc:90,h264-16m:150") for a few cells of their own.
CELLS = [
    (key, int(seconds))
    for key, seconds in (item.split(":") for item in os.environ.get("BENCH_PLAYABLE_CELLS", "").split(",") if item)
] or [(key, seconds) for seconds in LENGTHS for key in CHOSEN]
TIMELINE = ("Probe source", "Plan renditions", "Transcode HLS ladder", "Encode chunk", "Encode audio",
            "Join chunks", "Make thumbnails", "Make previews", "Publish")  # fmt: skip


def warm_up_chunks(api: Any, state: StateStore) -> None:
    """An upload that goes through the chunked path (a small HEVC clip longer than ChunkSeconds), as
    pipeline_clients' 2 s clip goes through the one-piece path: no measured run pays for a function's
    first start (about 0.9 s of a core each here; the first upload after a deploy does)."""
    path = LOCAL_DIR / "bench-media" / "warm-up-chunks-66s.mov"
    if not path.exists():
        make_clip(path, Clip(66, 320, 240, "30", codec="hevc", container="mov"))
    print("playable: warming up the chunked path", file=sys.stderr, flush=True)
    warm = Uploader(api, "bench", state=state).upload(path, resume="never")
    wait_for_asset(api, warm["assetId"], timeout=900)


def bench_clip(key: str, seconds: int) -> Path:
    """The input's 60 s clip (made once per machine), or ``seconds`` of it, cut or looped without re-encoding."""
    recipe = INPUTS[key][1]
    folder = LOCAL_DIR / "bench-media"
    minute = folder / f"{key}-1080p30-60s{recipe.suffix}"
    if not minute.exists():
        print(f"playable: generating the {key} clip", file=sys.stderr, flush=True)
        make_clip(minute, recipe)
    if seconds == 60:
        return minute
    path = folder / f"{key}-1080p30-{seconds}s{recipe.suffix}"
    if not path.exists():
        command = [ffmpeg(), "-v", "error", "-y", "-stream_loop", str(seconds // 60), "-i", str(minute),
                   "-t", str(seconds), "-c", "copy", "-movflags", "+faststart", str(path)]  # fmt: skip
        subprocess.run(command, check=True)
    return path


def _moments(sqs: Any, queue: str, asset_id: str, timeout: float = 3600) -> dict[str, float]:
    """``{event type: occurredAt}`` of the asset's events, up to asset.ready (asset.failed raises)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            document = json.loads(message["Body"])
            if document["assetId"] != asset_id:
                continue
            if document["type"] == "asset.failed":
                raise RuntimeError(f"{asset_id} failed: {document['error']}")
            moment = datetime.fromisoformat(document["occurredAt"].replace("Z", "+00:00")).timestamp()
            seen.setdefault(document["type"], moment)
        if "asset.ready" in seen:
            return seen
    raise TimeoutError(f"no asset.ready for {asset_id}")


def tools_cpu_seconds(cloud: BenchCloud) -> float:
    """CPU-seconds of the finished child processes (FFmpeg, ffprobe) of this cloud's function
    processes: each waits for its tools, so the kernel adds their time to its own children's."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    marker = str(cloud.settings.cloud_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker not in (proc / "environ").read_bytes():
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[13]) + int(fields[14])) / tick  # cutime, cstime
    return total


def timeline(sfn: Any, cloud: BenchCloud, asset_id: str, since: float) -> dict[str, list[float]]:
    """Each state's first start and last end, in seconds after ``since`` (from the execution's history)."""
    executions = sfn.list_executions(stateMachineArn=cloud.outputs["stateMachineArn"])["executions"]
    arn = next(item["executionArn"] for item in executions if item["name"].startswith(asset_id))
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    spans: dict[str, list[float]] = {}
    for event in events:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if not details or details["name"] not in TIMELINE:
            continue
        moment = round(event["timestamp"].timestamp() - since, 2)
        span = spans.setdefault(details["name"], [moment, moment])
        span[0], span[1] = min(span[0], moment), max(span[1], moment)
    return spans


def ladder_alone(clip: Path, scratch: Path) -> float:
    """Wall seconds of the one-piece ladder command (every rung encoded, as the transcode would) alone."""
    os.environ.setdefault("FFMPEG_PATH", ffmpeg())
    os.environ.setdefault("FFPROBE_PATH", ffprobe())
    media = render.inspect(clip, lambda: 3600, scratch)
    out = scratch / "ladder-alone"
    started = time.perf_counter()
    render.encode_ladder(clip, media, plan_ladder(media), out, lambda: 3600)
    seconds = time.perf_counter() - started
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return round(seconds, 2)


def run() -> dict[str, Any]:
    raw: dict[str, list[dict[str, Any]]] = {}
    floors: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch, deployed_cloud() as cloud:
        sqs, sfn, queue, api = pipeline_clients(cloud, "bench-playable", scratch)
        state = StateStore(Path(scratch) / "state")
        warm_up_chunks(api, state)
        for key, seconds in CELLS:
            name, _ = INPUTS[key]
            clip = bench_clip(key, seconds)
            cell = f"{name}, {seconds} s"
            alone = key != "standard" and seconds <= LADDER_ALONE_UP_TO
            rounds = ROUNDS if seconds <= 180 else LONG_ROUNDS
            for round_ in range(rounds):
                if alone and (round_ == 0 or seconds <= LADDER_ALONE_EVERY_ROUND_UP_TO):
                    print(f"playable: {cell}, the ladder alone", file=sys.stderr, flush=True)
                    floors.setdefault(cell, []).append(ladder_alone(clip, Path(scratch)))
                print(f"playable: {cell}, upload {round_ + 1}/{rounds}", file=sys.stderr, flush=True)
                uploaded = Uploader(api, "bench", state=state).upload(clip, resume="never")
                completed_at, cpu = time.time(), tools_cpu_seconds(cloud)
                moments = _moments(sqs, queue, uploaded["assetId"])
                asset = wait_for_asset(api, uploaded["assetId"], timeout=60)
                time.sleep(1)  # the last step's function has waited for its tools
                raw.setdefault(cell, []).append({
                    "seconds": seconds,
                    "sourceMbits": round(clip.stat().st_size * 8 / seconds / 1e6, 1),
                    "toPlayable": round(moments["asset.playable"] - completed_at, 2),
                    "toReady": round(moments["asset.ready"] - completed_at, 2),
                    "toolsCpuSeconds": round(tools_cpu_seconds(cloud) - cpu, 1),
                    "passthrough": asset["renditions"][0]["passthrough"]["video"],
                    "timeline": timeline(sfn, cloud, uploaded["assetId"], completed_at),
                })  # fmt: skip
                report_run(cell, raw[cell][-1])
    summary = {}
    for cell, runs in raw.items():
        playable, ready = [run["toPlayable"] for run in runs], [run["toReady"] for run in runs]
        summary[cell] = {
            "seconds": runs[0]["seconds"],
            "uploads": len(runs),
            "sourceMbits": runs[0]["sourceMbits"],
            "passthrough": all(run["passthrough"] for run in runs),
            "playableP50": round(median(playable), 2),
            "playableP95": round(percentile(playable, 0.95), 2),
            "readyP50": round(median(ready), 2),
            "readyP95": round(percentile(ready, 0.95), 2),
            "readyP50PerSourceSecond": round(median(ready) / runs[0]["seconds"], 3),
            "toolsCpuSecondsP50": round(median([run["toolsCpuSeconds"] for run in runs]), 1),
            **({"ladderAloneSeconds": round(median(floors[cell]), 2), "ladderAloneRuns": floors[cell],
                "readyOverLadderAlone": round(median(ready) / median(floors[cell]), 2)} if cell in floors else {}),
        }  # fmt: skip
    return write_results("playable", summary, raw, rounds=ROUNDS, longRounds=LONG_ROUNDS, load=os.getloadavg())


def report_run(cell: str, run: dict[str, Any]) -> None:
    spans = ", ".join(f"{name} {start}-{end}" for name, (start, end) in run["timeline"].items())
    print(f"  {cell}: playable {run['toPlayable']} s, ready {run['toReady']} s, "
          f"tools {run['toolsCpuSeconds']} CPU-s; {spans}", file=sys.stderr, flush=True)  # fmt: skip


def report(record: dict[str, Any]) -> None:
    print(f"complete -> asset.playable and asset.ready; {record['rounds']} uploads per cell up to 3 minutes,"
          f" {record.get('longRounds', record['rounds'])} past (p95: nearest rank)")  # fmt: skip
    print(f"  {'cell':<28} {'Mbit/s':>6} {'playable p50':>12} {'p95':>6} {'ready p50':>10} {'p95':>7}"
          f" {'ready/length':>12} {'CPU-s':>7} {'ladder alone':>12}")  # fmt: skip
    for name, row in record["median"].items():
        alone = f"{row['ladderAloneSeconds']} ({row['readyOverLadderAlone']}x)" if "ladderAloneSeconds" in row else "-"
        print(
            f"  {name:<28} {row['sourceMbits']:>6} {row['playableP50']:>12} {row['playableP95']:>6}"
            f" {row['readyP50']:>10} {row['readyP95']:>7} {row['readyP50PerSourceSecond']:>11}x"
            f" {row['toolsCpuSecondsP50']:>7} {alone:>12}"
        )


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, row in record["median"].items():
        rows.append((
            f"Time to playable, {name} 1080p30 (p50 / p95)",
            f"{row['playableP50']} s / {row['playableP95']} s",
            f"playable when ready: {row['readyP50']} s / {row['readyP95']} s",
            f"{row['readyP50'] / row['playableP50']:.1f}x sooner",
        ))  # fmt: skip
    return rows
