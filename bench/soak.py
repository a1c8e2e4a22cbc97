"""Soak: many phones at once, with a fault and a delete (not part of ``make test``).

For each N in ``BENCH_SOAK_UPLOADS`` (default 8 and 20): N uploads from 4 owners at the same time,
clips of several kinds (GOP, rotation, container, audio), each followed to its end. The probe's S3
read is cut mid-body once per asset (``FAULT_INJECTION=probe:cut-read``: a transient fault the state
machine must retry) and one asset, chosen at random, is deleted while it is in flight. Printed:
assets ready, failed, deleted and stuck, duplicate events, objects left behind, and throughput in
video-seconds per wall-second. ``python -m bench soak``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import deployed_cloud, write_results
from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.clients import local_session, subscribe_queue
from reelstack_cli.deploy import dev_secret
from reelstack_cli.media import Clip, make_clip
from reelstack_cli.settings import LOCAL_DIR
from reelstack_cli.uploader import StateStore, Uploader, guess_content_type, wait_for_asset

SIZES = [int(n) for n in os.environ.get("BENCH_SOAK_UPLOADS", "8,20").split(",")]
OWNERS = ["ana", "ben", "chloe", "dev"]
# What phones send: default GOPs (one keyframe), rotation, MOV/MKV/WebM, no audio, 60 fps.
KINDS = [
    Clip(6, 640, 360, gop_seconds=None),
    Clip(5, 360, 640, rotation=90, container="mov"),
    Clip(4, 640, 360, "60", audio="none", container="mkv"),
    Clip(6, 480, 270, codec="vp9", container="webm", audio="none"),
]


def _clips() -> list[Path]:
    folder = LOCAL_DIR / "bench-media" / "soak"
    folder.mkdir(parents=True, exist_ok=True)
    return [
        path if path.exists() else make_clip(path, kind)
        for index, kind in enumerate(KINDS)
        for path in [folder / f"kind{index}{kind.suffix}"]
    ]


def _set_fault(session: Any, function: str, fault: str | None) -> None:
    lam = session.client("lambda")
    variables = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    variables.pop("FAULT_INJECTION", None)
    if fault:
        variables["FAULT_INJECTION"] = fault
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    lam.get_waiter("function_updated_v2").wait(FunctionName=function, WaiterConfig={"Delay": 0.5})


def _drain(sqs: Any, queue: str, into: list[dict[str, Any]], quiet_seconds: float = 3) -> None:
    quiet_until = time.monotonic() + quiet_seconds
    while time.monotonic() < quiet_until:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            into.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            quiet_until = time.monotonic() + quiet_seconds


def _soak(cloud: Any, n: int, clips: list[Path], scratch: Path) -> dict[str, Any]:
    session = local_session(cloud.settings)
    sqs, s3 = session.client("sqs"), session.client("s3")
    queue = subscribe_queue(session, cloud.outputs["eventsTopicArn"], f"soak-{n}-{int(time.time())}")
    secret = dev_secret(cloud.settings)
    apis = {owner: ApiClient(cloud.outputs["apiUrl"], issue_dev_token(secret, owner)) for owner in OWNERS}
    chosen = random.Random(n)
    victim = chosen.randrange(n)
    outcomes: list[dict[str, Any]] = [{} for _ in range(n)]

    def phone(index: int) -> None:
        owner, clip = OWNERS[index % len(OWNERS)], clips[index % len(clips)]
        api = apis[owner]
        uploader = Uploader(api, owner, state=StateStore(scratch / f"state-{index}"), parallel=2)
        uploaded = uploader.upload(clip, content_type=guess_content_type(clip), resume="never")
        outcome = outcomes[index]
        outcome.update(assetId=uploaded["assetId"], owner=owner, clip=clip.name)
        if index == victim:  # deleted while its pipeline runs
            time.sleep(chosen.uniform(1, 4))
            api.delete(f"/assets/{uploaded['assetId']}")
            outcome["status"] = "deleted"
            return
        try:
            asset = wait_for_asset(api, uploaded["assetId"], timeout=600)
            outcome.update(status=asset["status"], seconds=(asset.get("media") or {}).get("durationSeconds", 0))
        except TimeoutError:
            outcome["status"] = "stuck"

    probe = _function(session, cloud, "ProbeFunction")
    _set_fault(session, probe, "probe:cut-read")
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(phone, range(n)))
    finally:
        _set_fault(session, probe, None)
    wall = time.perf_counter() - started
    time.sleep(20)  # let any step still running (the deleted asset's) finish and clean up after itself
    events: list[dict[str, Any]] = []
    _drain(sqs, queue, events)
    terminal = Counter(
        (event["assetId"], event["type"]) for event in events if event["type"] in ("asset.ready", "asset.failed")
    )
    left_behind = 0
    for outcome in outcomes:
        if outcome.get("status") in ("deleted", "failed"):
            listing = s3.list_objects_v2(Bucket=cloud.outputs["mediaBucket"], Prefix=f"assets/{outcome['assetId']}/")
            left_behind += listing.get("KeyCount", 0)
        if outcome.get("status") == "deleted":
            try:
                apis[outcome["owner"]].get(f"/assets/{outcome['assetId']}")
                left_behind += 1  # still visible: counts as left behind
            except ApiError:
                pass
    statuses = Counter(outcome.get("status", "stuck") for outcome in outcomes)
    video_seconds = sum(outcome.get("seconds", 0) for outcome in outcomes if outcome.get("status") == "ready")
    return {
        "uploads": n,
        "ready": statuses["ready"],
        "failed": statuses["failed"],
        "deleted": statuses["deleted"],
        "stuck": statuses["stuck"],
        "duplicateEvents": sum(count - 1 for count in terminal.values() if count > 1),
        "readyWithoutEvent": sum(
            1 for o in outcomes if o.get("status") == "ready" and not terminal[(o["assetId"], "asset.ready")]
        ),
        "objectsLeftBehind": left_behind,
        "wallSeconds": round(wall, 1),
        "videoSecondsPerWallSecond": round(video_seconds / wall, 2),
        "outcomes": outcomes,
    }


def _function(session: Any, cloud: Any, logical_id: str) -> str:
    cfn = session.client("cloudformation")
    resource = cfn.describe_stack_resource(StackName=cloud.settings.stack_name, LogicalResourceId=logical_id)
    return resource["StackResourceDetail"]["PhysicalResourceId"]


def run() -> dict[str, Any]:
    clips = _clips()
    runs = {}
    with tempfile.TemporaryDirectory() as scratch, deployed_cloud() as cloud:
        for n in SIZES:
            print(f"soak: {n} uploads at once", file=sys.stderr, flush=True)
            runs[str(n)] = _soak(cloud, n, clips, Path(scratch))
    summary = {n: {key: value for key, value in result.items() if key != "outcomes"} for n, result in runs.items()}
    return write_results("soak", summary, {n: result["outcomes"] for n, result in runs.items()})


def report(record: dict[str, Any]) -> None:
    print("concurrent phone uploads, one cut S3 read per asset and one delete in flight per run")
    print("  uploads  ready  failed  deleted  stuck  duplicates  left behind  wall s  video-s/wall-s")
    for n, row in record["median"].items():
        print(
            f"  {n:>7}  {row['ready']:>5}  {row['failed']:>6}  {row['deleted']:>7}  {row['stuck']:>5}"
            f"  {row['duplicateEvents']:>10}  {row['objectsLeftBehind']:>11}  {row['wallSeconds']:>6}"
            f"  {row['videoSecondsPerWallSecond']:>14}"
        )


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for n, row in record["median"].items():
        rows.append((
            f"Soak, {n} concurrent uploads (cut S3 reads, a delete in flight)",
            f"{row['ready']} ready, {row['stuck']} stuck, {row['duplicateEvents']} duplicates, "
            f"{row['objectsLeftBehind']} objects left; {row['videoSecondsPerWallSecond']} video-s per wall-s",
            f"{row['uploads']} uploads in {row['wallSeconds']} s",
            "-",
        ))  # fmt: skip
    return rows
