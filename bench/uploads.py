"""Upload throughput to the local cloud: the CLI uploader with 1, 4 and 8 parts in flight against a
single PutObject of the same file (the baseline), side by side in one run on one machine.

Every arm sends the same 200 MiB of random bytes. The uploader arms go through the public API as an
app does (POST /uploads, part URLs, complete), with per-part SHA-256 checksums (the CLI's default)
and, for comparison, without. Arms run round-robin so that drift hits them all alike; medians of
ROUNDS runs per arm; raw timings go to bench/results/uploads.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import deployed_cloud, median, timed, write_results
from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.deploy import dev_secret
from reelstack_cli.uploader import TERMINAL_ASSET_STATES, StateStore, Uploader

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SIZE = int(os.environ.get("BENCH_UPLOAD_MIB", "200")) * 2**20
ARMS = {
    "putObject (baseline)": None,
    "uploader, 1 part in flight": {"parallel": 1, "checksums": True},
    "uploader, 4 parts in flight": {"parallel": 4, "checksums": True},
    "uploader, 8 parts in flight": {"parallel": 8, "checksums": True},
    "uploader, 4 in flight, no checksums": {"parallel": 4, "checksums": False},
}


def _settled(api: ApiClient, asset_id: str, timeout: float = 300) -> None:
    """Wait, polling often, until the pipeline has finished with the asset."""
    deadline = time.monotonic() + timeout
    while api.get(f"/assets/{asset_id}")["status"] not in TERMINAL_ASSET_STATES and time.monotonic() < deadline:
        time.sleep(0.2)


def run() -> dict[str, Any]:
    raw: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as scratch, deployed_cloud() as cloud:
        path = Path(scratch) / "bench.mp4"
        path.write_bytes(os.urandom(SIZE))
        s3 = boto3.client(
            "s3",
            endpoint_url=cloud.settings.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(signature_version="s3v4"),
        )
        api = ApiClient(cloud.outputs["apiUrl"], issue_dev_token(dev_secret(cloud.settings), "bench"))
        # Warm-up: one small upload so that no arm pays for the API function's first start.
        small = Path(scratch) / "warm.mp4"
        small.write_bytes(os.urandom(1024))
        Uploader(api, "bench", state=StateStore(Path(scratch) / "state")).upload(small, resume="never")
        for round_number in range(1, ROUNDS + 1):
            for arm, options in ARMS.items():
                print(f"uploads round {round_number}/{ROUNDS}: {arm}", file=sys.stderr, flush=True)
                if options is None:
                    seconds = timed(
                        lambda: s3.put_object(
                            Bucket=cloud.outputs["uploadBucket"], Key="bench/put-object", Body=path.read_bytes()
                        )
                    )
                else:
                    uploader = Uploader(api, "bench", state=StateStore(Path(scratch) / "state"), **options)
                    answers: list[dict[str, Any]] = []
                    seconds = timed(
                        lambda uploader=uploader, answers=answers: answers.append(uploader.upload(path, resume="never"))
                    )
                    # Untimed: the pipeline reads the completed 200 MiB (and fails it: random bytes);
                    # let it finish so that it does not compete with the next arm.
                    _settled(api, answers[0]["assetId"])
                raw[arm].append(seconds)
    baseline = median(raw["putObject (baseline)"])
    summary = {
        arm: {
            "seconds": round(median(times), 3),
            "mibPerSecond": round(SIZE / 2**20 / median(times), 1),
            "speedupOverPutObject": round(baseline / median(times), 2),
        }
        for arm, times in raw.items()
    }
    return write_results("uploads", summary, raw, rounds=ROUNDS, bytes=SIZE)


def report(record: dict[str, Any]) -> None:
    print(f"uploads of {record['bytes'] / 2**20:.0f} MiB to the local cloud, medians of {record['rounds']} rounds")
    print(f"  {'arm':<38} {'seconds':>8} {'MiB/s':>7} {'vs PutObject':>13}")
    for arm, row in record["median"].items():
        print(f"  {arm:<38} {row['seconds']:>8} {row['mibPerSecond']:>7} {row['speedupOverPutObject']:>12}x")


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = record["median"]
    baseline = rows["putObject (baseline)"]
    size = f"{record['bytes'] / 2**20:.0f} MiB"
    return [
        (
            f"Upload {size}, {arm.removeprefix('uploader, ')}",
            f"{row['seconds']} s ({row['mibPerSecond']} MiB/s)",
            f"one PutObject: {baseline['seconds']} s",
            f"{row['speedupOverPutObject']}x",
        )
        for arm, row in rows.items()
        if arm != "putObject (baseline)"
    ]
