"""Chunked encoding end to end on the local cloud, against the one-piece encode in the same run, and
the measured costs fed into a latency and cost model for AWS Lambda.

Arms: the same 1080p30 clips (60 s and 180 s) with chunking off and on. The switch is the job's
``chunkSeconds``, which ingest takes from its environment: the bench changes IngestFunction's
CHUNK_SECONDS between arms (a configuration change, not a redeploy). Each upload's clock runs from
the API's answer to ``complete`` to ``asset.ready``'s ``occurredAt``; the execution history gives
each chunk's wall time and its FFmpeg time (the rest is the Lambda start, the ranged reads and the
uploads). Locally the chunks share the machine's cores, so chunking cannot be faster here; the
model says what it does on Lambda, where every chunk has a function of its own.
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
from reelstack.media.ffmpeg import SHORT_SEGMENT_SECONDS
from reelstack_cli.clients import local_session
from reelstack_cli.demo import wait_for_execution
from reelstack_cli.invoke import physical_name, set_environment
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset

DURATIONS = [int(seconds) for seconds in os.environ.get("BENCH_CHUNKED_SECONDS", "60,180").split(",")]
CHUNK_SECONDS = int(os.environ.get("BENCH_CHUNK_SECONDS", "30"))
ARMS = {"one piece": 0, f"chunks of {CHUNK_SECONDS} s": CHUNK_SECONDS}
MODEL = {
    "lambdaMemoryMb": 10240,
    "lambdaVcpus": 6,
    "threadEfficiency": 0.8,  # x264 on 6 threads does not get 6 times one thread's work
    "lambdaUsdPerGbSecond": 0.0000166667,  # x86, us-east-1
    "lambdaUsdPerRequest": 0.0000002,
    "stepFunctionsUsdPerTransition": 0.000025,
    "transitionsPerChunk": 3,
    "s3GetUsdPer1000": 0.0004,
    "s3MegabytesPerSecond": 90,  # one Lambda reading S3
    "sourceMegabitsPerSecond": 8,  # a phone's 1080p30 upload
    "coldStartSeconds": 1.0,
    # Assumed, not measured here (LocalStack's Map Run is not AWS's, and AWS publishes no figure): the
    # seconds from a Distributed Map state's entry to its first child workflow's first task.
    "distributedMapStartSeconds": 2.0,
    "headerProbeSeconds": 1.0,  # assumed: ffprobe of the source's header over ranged reads, no packet scan
}


def _function_env(cloud: Any, logical_id: str, changes: dict[str, str]) -> None:
    name = physical_name(cloud.settings, logical_id)
    client = local_session(cloud.settings).client("lambda")
    variables = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    set_environment(client, name, {**variables, **changes})


def _ready_at(sqs: Any, queue: str, asset_id: str) -> float:
    document = ready_event(sqs, queue, asset_id, timeout=1200)
    if document["type"] == "asset.failed":
        raise RuntimeError(f"{asset_id} failed: {document['error']}")
    return datetime.fromisoformat(document["occurredAt"].replace("Z", "+00:00")).timestamp()


def _steps(sfn: Any, arn: str) -> dict[str, Any]:
    """Wall seconds per state (each chunk's separately: a state's exit is paired with its entry by
    following ``previousEventId`` back, as iterations run side by side) and each chunk's FFmpeg seconds."""
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    by_id = {event["id"]: event for event in events}
    walls: dict[str, list[float]] = {}
    ffmpeg: list[float] = []
    for event in events:
        if not event["type"].endswith("StateExited"):
            continue
        name = event["stateExitedEventDetails"]["name"]
        start = by_id.get(event.get("previousEventId"))
        while start is not None and not (
            start["type"].endswith("StateEntered") and start["stateEnteredEventDetails"]["name"] == name
        ):
            start = by_id.get(start.get("previousEventId"))
        if start is not None:
            walls.setdefault(name, []).append((event["timestamp"] - start["timestamp"]).total_seconds())
        output = json.loads(event["stateExitedEventDetails"].get("output") or "{}")
        if name in ("Encode chunk", "Transcode HLS ladder") and isinstance(output, dict):
            ffmpeg.append(float(output.get("ffmpegSeconds") or 0))
    described = sfn.describe_execution(executionArn=arn)
    execution = (described["stopDate"] - described["startDate"]).total_seconds()
    return {"walls": walls, "ffmpeg": ffmpeg, "executionSeconds": round(execution, 2)}


def run() -> dict[str, Any]:
    raw: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch, deployed_cloud() as cloud:
        sqs, sfn, queue, api = pipeline_clients(cloud, "bench-chunked", scratch)
        clips = {seconds: cached_clip(seconds) for seconds in DURATIONS}
        for seconds in DURATIONS:
            for arm, chunk_seconds in ARMS.items():
                print(f"chunked: {seconds} s, {arm}", file=sys.stderr, flush=True)
                _function_env(cloud, "IngestFunction", {"CHUNK_SECONDS": str(chunk_seconds)})
                # The changed function starts afresh: warm it up, so the measured upload does not wait for it.
                warm = Uploader(api, "bench", state=StateStore(Path(scratch) / "state")).upload(cached_clip(2))
                wait_for_asset(api, warm["assetId"], timeout=900)
                ready_event(sqs, queue, warm["assetId"])
                uploader = Uploader(api, "bench", state=StateStore(Path(scratch) / "state"))
                uploaded = uploader.upload(clips[seconds], resume="never")
                completed_at = time.time()
                ready_at = _ready_at(sqs, queue, uploaded["assetId"])
                arn = next(
                    item["executionArn"]
                    for item in sfn.list_executions(stateMachineArn=cloud.outputs["stateMachineArn"])["executions"]
                    if item["name"].startswith(uploaded["assetId"])
                )
                wait_for_execution(sfn, arn)
                raw[f"{seconds} s, {arm}"] = {
                    "seconds": seconds,
                    "chunkSeconds": chunk_seconds,
                    "sourceBytes": clips[seconds].stat().st_size,
                    "completeToReadySeconds": round(ready_at - completed_at, 2),
                    **_steps(sfn, arn),
                }
        _function_env(cloud, "IngestFunction", {"CHUNK_SECONDS": "60"})
    summary = {}
    for name, run_ in raw.items():
        chunk_walls = run_["walls"].get("Encode chunk", [])
        summary[name] = {
            "completeToReadySeconds": run_["completeToReadySeconds"],
            "executionSeconds": run_["executionSeconds"],
            "chunks": len(chunk_walls) or 1,
            "ffmpegSeconds": round(sum(run_["ffmpeg"]), 2),
            "longestChunkSeconds": round(max(chunk_walls), 2) if chunk_walls else None,
            # What a chunk costs beyond FFmpeg: the Lambda start, the ranged reads, the uploads.
            "chunkOverheadSeconds": round(median(chunk_walls) - median(run_["ffmpeg"]), 2) if chunk_walls else None,
            "probeSeconds": round(median(run_["walls"].get("Probe source", [0])), 2),
            "joinSeconds": round(median(run_["walls"].get("Join chunks", [0])), 2),
        }
    return write_results(
        "chunked", {"runs": summary, "model": model(raw, summary)}, raw, cores=os.cpu_count(), assumptions=MODEL
    )


def model(raw: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Latency and cost on Lambda for 10- and 60-minute 1080p30 videos, from the costs measured here:
    CPU-seconds per video second of the one-piece ladder (the machine's cores busy), each chunk's
    overhead beyond FFmpeg, the probe's seconds per video second and the join."""
    one_piece = [run_ for run_ in raw.values() if run_["chunkSeconds"] == 0]
    chunked = [name for name, run_ in raw.items() if run_["chunkSeconds"]]
    cores = os.cpu_count() or 1
    cpu_per_second = median([sum(run_["ffmpeg"]) * cores / run_["seconds"] for run_ in one_piece])
    probe_per_second = median([summary[name]["probeSeconds"] / raw[name]["seconds"] for name in raw])
    overhead = median([summary[name]["chunkOverheadSeconds"] for name in chunked])
    join = median([summary[name]["joinSeconds"] for name in chunked])
    bytes_per_second = median([run_["sourceBytes"] / run_["seconds"] for run_ in raw.values()])
    speed = MODEL["lambdaVcpus"] * MODEL["threadEfficiency"]
    rows = []
    for minutes in (10, 60):
        seconds = minutes * 60
        source_mb = bytes_per_second * seconds / 1e6
        for chunk in (10, 20, 30, 60):
            count = seconds // chunk
            read = source_mb / count / MODEL["s3MegabytesPerSecond"]  # each chunk's ranged reads
            chunk_wall = cpu_per_second * chunk / speed + overhead + read + MODEL["coldStartSeconds"]
            probe = source_mb / MODEL["s3MegabytesPerSecond"] + probe_per_second * seconds
            latency = probe + chunk_wall + join
            # Playable: the first chunk publishes its first short segments as it encodes (and the sound's
            # rendition its own), so a viewer waits for the header, the Map's start, a cold start and
            # those segments' encode, not for a chunk or the packet scan: the same at any length.
            distributed = count > 40
            playable = (
                MODEL["headerProbeSeconds"]
                + (MODEL["distributedMapStartSeconds"] if distributed else 0)
                + MODEL["coldStartSeconds"]
                + cpu_per_second * SHORT_SEGMENT_SECONDS / speed
            )
            gb_seconds = count * chunk_wall * MODEL["lambdaMemoryMb"] / 1024
            usd = (
                gb_seconds * MODEL["lambdaUsdPerGbSecond"]
                + count
                * (MODEL["lambdaUsdPerRequest"] + MODEL["transitionsPerChunk"] * MODEL["stepFunctionsUsdPerTransition"])
                + count * MODEL["s3GetUsdPer1000"] / 1000 * 4  # a few range GETs per chunk
            )
            rows.append(
                {
                    "videoMinutes": minutes,
                    "chunkSeconds": chunk,
                    "chunks": count,
                    "map": "distributed" if distributed else "inline",
                    "chunkWallSeconds": round(chunk_wall, 1),
                    "latencySeconds": round(latency, 1),
                    "playableSeconds": round(playable, 1),
                    "sourceMegabytesPerChunk": round(source_mb / count, 1),
                    "usd": round(usd, 4),
                }
            )
    return rows


def report(record: dict[str, Any]) -> None:
    print(f"chunked encoding on the local cloud ({record['cores']} cores), complete -> asset.ready")
    print(
        f"  {'run':<26} {'total s':>8} {'chunks':>7} {'ffmpeg s':>9} {'longest chunk s':>16} {'chunk overhead s':>17}"
    )
    for name, row in record["median"]["runs"].items():
        print(f"  {name:<26} {row['completeToReadySeconds']:>8} {row['chunks']:>7} {row['ffmpegSeconds']:>9} "
              f"{row['longestChunkSeconds']!s:>16} {row['chunkOverheadSeconds']!s:>17}")  # fmt: skip
    print("model: 1080p30 on 10,240 MB Lambdas (6 vCPUs), fed with the costs measured above")
    print(
        f"  {'minutes':>7} {'chunk s':>8} {'chunks':>7} {'map':>12} {'chunk wall s':>13} {'latency s':>10}"
        f" {'playable s':>10} {'USD':>8}"
    )
    for row in record["median"]["model"]:
        print(f"  {row['videoMinutes']:>7} {row['chunkSeconds']:>8} {row['chunks']:>7} {row['map']:>12} "
              f"{row['chunkWallSeconds']:>13} {row['latencySeconds']:>10} {row.get('playableSeconds', '-')!s:>10}"
              f" {row['usd']:>8}")  # fmt: skip


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    runs = record["median"]["runs"]
    rows = []
    for seconds in sorted({int(name.split(" s,")[0]) for name in runs}):
        one = runs[f"{seconds} s, one piece"]
        chunked = next(row for name, row in runs.items() if name.startswith(f"{seconds} s, chunks"))
        rows.append(
            (
                f"Chunked vs one piece, {seconds} s 1080p30 here ({record['cores']} cores shared)",
                f"{chunked['completeToReadySeconds']} s ({chunked['chunks']} chunks)",
                f"one piece: {one['completeToReadySeconds']} s",
                f"{one['completeToReadySeconds'] / chunked['completeToReadySeconds']:.2f}x",
            )
        )
    best = min(
        (row for row in record["median"]["model"] if row["videoMinutes"] == 10), key=lambda r: r["latencySeconds"]
    )
    rows.append(
        (
            "Model: 10 min 1080p on Lambda",
            f"{best['latencySeconds']} s with {best['chunks']} chunks of {best['chunkSeconds']} s, ${best['usd']}",
            "goal: under 30 s",
            "met" if best["latencySeconds"] < 30 else "not met",
        )
    )
    return rows
