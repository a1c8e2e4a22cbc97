"""Time to playable and time to ready on the local cloud, in Mux's length buckets, for standard input
and for input that needs a full encode, against today's pipeline in the same run.

Each upload's clock runs from the API's answer to ``complete`` to ``asset.playable``'s and
``asset.ready``'s ``occurredAt``. Arms, one after the other on one freshly deployed cloud:

- **standard input, pass-through**: a phone's 1080p30 H.264 (High, B-frames, about 6 Mbit/s) with
  AAC-LC: its video is the top rung as it is, the rungs below are encoded, published as they grow.
- **standard input, encoded**: the same file with ``PASSTHROUGH=off`` on PlanFunction: every rung is
  encoded (still published as it grows). Its time to ready is what today's pipeline took to make
  the video playable at all (before progressive publishing, playable was ready).
- **full encode**: the same picture in HEVC (an iPhone's default), which must be encoded whatever
  the switch says.

Buckets: under 1 minute (60 s clips) and 1-5 minutes (90 s clips; chunked when encoded, never when
passed through). p50 and p95 over BENCH_ROUNDS uploads per arm (p95 by nearest rank: with 5
uploads, the slowest).
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

from bench.chunked import _function_env
from bench.common import cached_clip, deployed_cloud, median, percentile, pipeline_clients, write_results
from reelstack_cli.media import Clip, ffmpeg, make_clip
from reelstack_cli.settings import LOCAL_DIR
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
_LENGTHS = [int(value) for value in os.environ.get("BENCH_PLAYABLE_SECONDS", "60,90").split(",")]
BUCKETS = {("under 1 minute" if seconds <= 60 else "1-5 minutes"): seconds for seconds in _LENGTHS}
STANDARD = Clip(60, 1920, 1080, "30", x264_preset="veryfast", crf=21)  # a phone's camera, H.264
HEVC = Clip(60, 1920, 1080, "30", codec="hevc", container="mov")  # an iPhone's "High Efficiency"
ARMS = {  # arm -> (clip kind, PASSTHROUGH on PlanFunction)
    "standard input, pass-through": ("standard", "on"),
    "standard input, encoded": ("standard", "off"),
    "full encode (HEVC)": ("hevc", "on"),
}


def bench_clip(kind: str, seconds: int) -> Path:
    """The kind's 60 s clip (made once per machine), or ``seconds`` of it looped without re-encoding."""
    recipe = STANDARD if kind == "standard" else HEVC
    folder = LOCAL_DIR / "bench-media"
    minute = folder / f"{kind}-1080p30-60s{recipe.suffix}"
    if not minute.exists():
        print(f"playable: generating the {kind} clip", file=sys.stderr, flush=True)
        make_clip(minute, recipe)
    if seconds == 60:
        return minute
    path = folder / f"{kind}-1080p30-{seconds}s{recipe.suffix}"
    if not path.exists():
        command = [ffmpeg(), "-v", "error", "-y", "-stream_loop", str(seconds // 60), "-i", str(minute),
                   "-t", str(seconds), "-c", "copy", "-movflags", "+faststart", str(path)]  # fmt: skip
        subprocess.run(command, check=True)
    return path


def _moments(sqs: Any, queue: str, asset_id: str, timeout: float = 1200) -> dict[str, float]:
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


def run() -> dict[str, Any]:
    raw: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as scratch, deployed_cloud() as cloud:
        sqs, _, queue, api = pipeline_clients(cloud, "bench-playable", scratch)
        state = StateStore(Path(scratch) / "state")
        switch = None
        for bucket, seconds in BUCKETS.items():
            for arm, (kind, passthrough) in ARMS.items():
                clip = bench_clip(kind, seconds)
                if passthrough != switch:
                    _function_env(cloud, "PlanFunction", {"PASSTHROUGH": passthrough})
                    switch = passthrough
                    # The changed function starts afresh: warm it up, so no measured upload waits for it.
                    warm = Uploader(api, "bench", state=state).upload(cached_clip(2), resume="never")
                    wait_for_asset(api, warm["assetId"], timeout=900)
                runs = raw.setdefault(f"{bucket}, {arm}", [])
                for round_ in range(ROUNDS):
                    print(f"playable: {bucket}, {arm}, upload {round_ + 1}/{ROUNDS}", file=sys.stderr, flush=True)
                    uploaded = Uploader(api, "bench", state=state).upload(clip, resume="never")
                    completed_at = time.time()
                    moments = _moments(sqs, queue, uploaded["assetId"])
                    asset = wait_for_asset(api, uploaded["assetId"], timeout=60)
                    runs.append({
                        "seconds": seconds,
                        "sourceBytes": clip.stat().st_size,
                        "toPlayable": round(moments["asset.playable"] - completed_at, 2),
                        "toReady": round(moments["asset.ready"] - completed_at, 2),
                        "passthrough": asset["renditions"][0]["passthrough"]["video"],
                    })  # fmt: skip
        _function_env(cloud, "PlanFunction", {"PASSTHROUGH": "on"})
    summary = {}
    for name, runs in raw.items():
        playable, ready = [run["toPlayable"] for run in runs], [run["toReady"] for run in runs]
        summary[name] = {
            "seconds": runs[0]["seconds"],
            "uploads": len(runs),
            "passthrough": all(run["passthrough"] for run in runs),
            "playableP50": round(median(playable), 2),
            "playableP95": round(percentile(playable, 0.95), 2),
            "readyP50": round(median(ready), 2),
            "readyP95": round(percentile(ready, 0.95), 2),
            "readyP50PerSourceSecond": round(median(ready) / runs[0]["seconds"], 3),
        }
    return write_results("playable", summary, raw, rounds=ROUNDS)


def report(record: dict[str, Any]) -> None:
    print(f"complete -> asset.playable and asset.ready, {record['rounds']} uploads per arm (p95: the slowest)")
    print(f"  {'arm':<52} {'playable p50':>12} {'p95':>6} {'ready p50':>10} {'p95':>6} {'ready/length':>13}")
    for name, row in record["median"].items():
        print(
            f"  {name:<52} {row['playableP50']:>12} {row['playableP95']:>6} {row['readyP50']:>10}"
            f" {row['readyP95']:>6} {row['readyP50PerSourceSecond']:>12}x"
        )


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for bucket, seconds in BUCKETS.items():
        project = record["median"].get(f"{bucket}, standard input, pass-through")
        today = record["median"].get(f"{bucket}, standard input, encoded")
        full = record["median"].get(f"{bucket}, full encode (HEVC)")
        if not (project and today and full):
            continue
        rows += [
            (
                f"Time to playable, {seconds} s 1080p30 standard input (p50 / p95)",
                f"{project['playableP50']} s / {project['playableP95']} s",
                f"today's pipeline (playable when ready): {today['readyP50']} s / {today['readyP95']} s",
                f"{today['readyP50'] / project['playableP50']:.1f}x sooner",
            ),
            (
                f"Time to ready, {seconds} s 1080p30 standard input (p50 / p95)",
                f"pass-through: {project['readyP50']} s / {project['readyP95']} s "
                f"({project['readyP50PerSourceSecond']}x its length)",
                f"every rung encoded: {today['readyP50']} s / {today['readyP95']} s",
                f"{today['readyP50'] / project['readyP50']:.2f}x faster",
            ),
            (
                f"Time to playable, {seconds} s 1080p30 HEVC, full encode (p50 / p95)",
                f"{full['playableP50']} s / {full['playableP95']} s",
                f"playable when ready: {full['readyP50']} s / {full['readyP95']} s",
                f"{full['readyP50'] / full['playableP50']:.1f}x sooner",
            ),
        ]
    return rows
