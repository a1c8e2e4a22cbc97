"""What every benchmark shares: a fresh local cloud of its own, the CLI, timers and the results file."""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reelstack_cli.settings import CHECKOUT, LOCAL_DIR, Settings

RESULTS_DIR = CHECKOUT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "reelstack_cli.main", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@dataclass
class BenchCloud:
    settings: Settings
    env: dict[str, str]
    outputs: dict[str, str]


def cloud_settings(folder: str = "bench-cloud") -> tuple[Settings, dict[str, str]]:
    settings = Settings(LOCAL_DIR / folder, free_port(), "reelstack-bench")
    env = {
        **os.environ,
        "REELSTACK_CLOUD_DIR": str(settings.cloud_dir),
        "REELSTACK_LOCAL_PORT": str(settings.port),
        "REELSTACK_STACK": settings.stack_name,
    }
    return settings, env


_shared: dict[str, BenchCloud | None] = {}


@contextmanager
def one_cloud_for_all() -> Iterator[None]:
    """Within this block, every suite that asks for a deployed cloud gets the same one (started on
    first use, stopped at the end): one start and deploy per ``python -m bench`` run, not one per suite."""
    _shared["cloud"] = None
    try:
        yield
    finally:
        cloud = _shared.pop("cloud", None)
        if cloud is not None:
            cli(cloud.env, "local", "stop", "--clean")


@contextmanager
def deployed_cloud() -> Iterator[BenchCloud]:
    """A freshly started local cloud with the stack deployed; stopped and removed afterwards (or at the
    end of :func:`one_cloud_for_all`)."""
    if "cloud" in _shared and _shared["cloud"] is not None:
        yield _shared["cloud"]
        return
    settings, env = cloud_settings()
    cli(env, "local", "stop", "--clean")
    print("starting a local cloud and deploying template.yaml", file=sys.stderr, flush=True)
    try:
        cli(env, "local", "start")
        cloud = BenchCloud(settings, env, cli(env, "deploy")["outputs"])
    except BaseException:
        cli(env, "local", "stop", "--clean")
        raise
    if "cloud" in _shared:
        _shared["cloud"] = cloud  # stopped by one_cloud_for_all
        yield cloud
        return
    try:
        yield cloud
    finally:
        cli(env, "local", "stop", "--clean")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it (the p95
    of 5 or 10 values is the slowest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def write_results(name: str, summary: dict[str, Any], raw: Any, **extra: Any) -> dict[str, Any]:
    record = {
        "date": datetime.now(UTC).date().isoformat(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        **extra,
        "median": summary,
        "raw": raw,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def cached_clip(seconds: int) -> Path:
    """A generated 1080p30 H.264/AAC clip, made once per machine so that every run and arm reads the
    same input (in .local/bench-media). Only the 60 s clip is encoded; shorter ones are its start and
    longer ones repeat it, cut or joined without re-encoding (at keyframes: one a second). The
    encoder's work per frame is the same, and a first run saves minutes of generating."""
    from reelstack_cli.media import ffmpeg, generate_clip

    path = LOCAL_DIR / "bench-media" / f"1080p30-{seconds}s.mp4"
    if path.exists():
        return path
    if seconds == 60:
        print("generating a 60 s 1080p30 clip", file=sys.stderr, flush=True)
        return generate_clip(path, seconds=60, width=1920, height=1080)
    minute = cached_clip(60)
    repeats = ["-stream_loop", str(seconds // 60)] if seconds > 60 else []
    command = [ffmpeg(), "-v", "error", "-y", *repeats, "-i", str(minute), "-t", str(seconds), "-c", "copy"]
    subprocess.run([*command, "-movflags", "+faststart", str(path)], check=True)
    return path


def ready_event(sqs: Any, queue: str, asset_id: str, timeout: float = 900) -> dict[str, Any]:
    """The asset's asset.ready (or asset.failed) from the bench's queue on the events topic."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            document = json.loads(message["Body"])
            if document["assetId"] == asset_id and document["type"] in ("asset.ready", "asset.failed"):
                return document
    raise TimeoutError(f"no asset.ready for {asset_id}")


def pipeline_clients(cloud: BenchCloud, queue_name: str, scratch: str) -> tuple[Any, Any, str, Any]:
    """``(sqs, stepfunctions, queue on the events topic, the API as user "bench")``, after a warm-up
    upload of a 2 s clip, so that no measured run pays for the functions' first starts."""
    from reelstack.api.auth import issue_dev_token
    from reelstack_cli.api_client import ApiClient
    from reelstack_cli.clients import local_session, subscribe_queue
    from reelstack_cli.deploy import dev_secret
    from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset

    session = local_session(cloud.settings)
    queue = subscribe_queue(session, cloud.outputs["eventsTopicArn"], queue_name)
    api = ApiClient(cloud.outputs["apiUrl"], issue_dev_token(dev_secret(cloud.settings), "bench"))
    warm = Uploader(api, "bench", state=StateStore(Path(scratch) / "state")).upload(cached_clip(2))
    wait_for_asset(api, warm["assetId"], timeout=900)
    return session.client("sqs"), session.client("stepfunctions"), queue, api
