"""End to end on the local cloud: CompleteMultipartUpload to ``asset.ready`` for generated 1080p30
clips with audio, split into FFmpeg time and everything else (S3 event, Lambda starts, Step
Functions, downloads and uploads), so that the orchestration overhead is a number.

The clock starts when the API has answered ``complete`` (the object exists) and stops at the
``occurredAt`` of the asset's ``asset.ready`` event (same machine, same clock). FFmpeg time is the
encode on the critical path: the transcode step (the thumbnails run beside it). Medians of ROUNDS.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import cached_clip, deployed_cloud, median, pipeline_clients, ready_event, write_results
from reelstack_cli.demo import execution_steps, wait_for_execution
from reelstack_cli.uploader import StateStore, Uploader

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATIONS = [int(seconds) for seconds in os.environ.get("BENCH_PIPELINE_SECONDS", "10,60,180").split(",")]


def run() -> dict[str, Any]:
    raw: dict[str, list[dict[str, Any]]] = {str(seconds): [] for seconds in DURATIONS}
    with tempfile.TemporaryDirectory() as scratch, deployed_cloud() as cloud:
        sqs, sfn, queue, api = pipeline_clients(cloud, "bench-events", scratch)
        clips = {seconds: cached_clip(seconds) for seconds in DURATIONS}
        for round_number in range(1, ROUNDS + 1):
            for seconds in DURATIONS:
                print(f"pipeline round {round_number}/{ROUNDS}: {seconds} s", file=sys.stderr, flush=True)
                uploader = Uploader(api, "bench", state=StateStore(Path(scratch) / "state"))
                uploaded = uploader.upload(clips[seconds], resume="never")
                completed_at = time.time()
                event = ready_event(sqs, queue, uploaded["assetId"])
                ready_at = datetime.fromisoformat(event["occurredAt"].replace("Z", "+00:00")).timestamp()
                arn = next(
                    item["executionArn"]
                    for item in sfn.list_executions(stateMachineArn=cloud.outputs["stateMachineArn"])["executions"]
                    if item["name"].startswith(uploaded["assetId"])
                )
                output = json.loads(wait_for_execution(sfn, arn).get("output") or "{}")
                hls = output["outputs"]["hls"]  # Encode names its branches: the ladder, and the derivatives by name
                pictures = {made["name"]: made for made in output["outputs"]["derived"]}
                raw[str(seconds)].append(
                    {
                        "completeToReadySeconds": ready_at - completed_at,
                        "transcodeFfmpegSeconds": hls["ffmpegSeconds"],
                        "thumbnailsFfmpegSeconds": pictures["thumbnails"]["ffmpegSeconds"],
                        "previewsFfmpegSeconds": pictures["previews"]["ffmpegSeconds"],
                        "steps": execution_steps(sfn, arn),
                    }
                )
    summary = {}
    for seconds, runs in raw.items():
        total = median([run["completeToReadySeconds"] for run in runs])
        encode = median([run["transcodeFfmpegSeconds"] for run in runs])
        previews = median([run["previewsFfmpegSeconds"] for run in runs])
        summary[f"{seconds} s 1080p30"] = {
            "completeToReadySeconds": round(total, 2),
            "ffmpegSeconds": round(encode, 2),
            "everythingElseSeconds": round(total - encode, 2),
            "ffmpegShare": round(encode / total, 2),
            "realtimeFactor": round(int(seconds) / total, 2),
            # Off the critical path (beside the transcode): the muted MP4 and the animated WebP.
            "previewsSeconds": round(previews, 2),
            "previewsSecondsPerSourceMinute": round(previews / (int(seconds) / 60), 2),
        }
    return write_results("pipeline", summary, raw, rounds=ROUNDS)


def report(record: dict[str, Any]) -> None:
    print(f"CompleteMultipartUpload -> asset.ready on the local cloud, medians of {record['rounds']} rounds")
    print(
        f"  {'clip':<14} {'total s':>8} {'ffmpeg s':>9} {'other s':>8} {'ffmpeg share':>13} {'x realtime':>11}"
        f" {'previews s':>11}"
    )
    for clip, row in record["median"].items():
        print(
            f"  {clip:<14} {row['completeToReadySeconds']:>8} {row['ffmpegSeconds']:>9} "
            f"{row['everythingElseSeconds']:>8} {row['ffmpegShare']:>13} {row['realtimeFactor']:>11}"
            f" {row['previewsSeconds']:>11}"
        )


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    longest, row = list(record["median"].items())[-1]
    previews = (
        f"Previews (muted MP4 + animated WebP), {longest}",
        f"{row['previewsSeconds']} s: {row['previewsSecondsPerSourceMinute']} s per minute of source",
        f"the transcode: {row['ffmpegSeconds']} s",
        f"{100 * row['previewsSeconds'] / row['ffmpegSeconds']:.1f} % of it",
    )
    return [
        (
            f"End to end, {clip} (complete -> asset.ready)",
            f"{row['completeToReadySeconds']} s, of which everything but FFmpeg {row['everythingElseSeconds']} s",
            f"the FFmpeg encode alone: {row['ffmpegSeconds']} s",
            f"{row['completeToReadySeconds'] / row['ffmpegSeconds']:.2f}x "
            f"({100 * (1 - row['ffmpegShare']):.0f} % overhead)",
        )
        for clip, row in record["median"].items()
    ] + [previews]
