"""``reelstack demo``: what a phone does, end to end on the deployed stack.

It generates a clip with FFmpeg, uploads it through the API with presigned multipart URLs, waits
while the pipeline (S3 event -> Step Functions -> FFmpeg) turns it into HLS with thumbnails, and
shows the asset with its playback and thumbnail URLs and each state of the execution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.clients import local_session
from reelstack_cli.deploy import dev_secret, local_outputs
from reelstack_cli.media import generate_clip
from reelstack_cli.settings import LOCAL_DIR, Settings
from reelstack_cli.uploader import StateStore, Uploader, describe_progress, wait_for_asset

DEMO_DIR = LOCAL_DIR / "demo"
DEMO_USER = "demo"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 300, poll: float = 0.2) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL:
            return described
        time.sleep(poll)
    raise TimeoutError(f"execution {execution_arn} still running after {timeout:.0f}s")


def execution_steps(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Each state the execution entered, with its outcome and duration in milliseconds."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    steps: list[dict[str, Any]] = []
    open_steps: dict[str, dict[str, Any]] = {}
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            open_steps[name] = {"state": name, "started": event["timestamp"], "outcome": "running"}
            steps.append(open_steps[name])
        elif kind.endswith("StateExited"):
            step = open_steps.pop(event["stateExitedEventDetails"]["name"], None)
            if step:
                step["outcome"] = "succeeded"
                step["ms"] = round((event["timestamp"] - step.pop("started")).total_seconds() * 1000)
        elif kind in ("TaskFailed", "LambdaFunctionFailed", "ExecutionFailed"):
            for step in open_steps.values():
                step["outcome"] = "failed"
    for step in steps:
        step.pop("started", None)
    return steps


def run_demo(settings: Settings, progress: Callable[[str], None]) -> dict[str, Any]:
    """Upload a generated clip through the API as a phone would, then run the pipeline on its asset."""
    session = local_session(settings)
    outputs = local_outputs(settings)
    clip = DEMO_DIR / "reelstack-demo.mp4"
    if not clip.exists():
        progress("generating a 10 s 720p clip with FFmpeg")
        generate_clip(clip)
    api = ApiClient(outputs["apiUrl"], issue_dev_token(dev_secret(settings, create=False), DEMO_USER))
    reported = [0]

    def on_progress(done: int, total: int) -> None:
        quarter = done * 4 // max(total, 1)
        if quarter > reported[0]:
            reported[0] = quarter
            progress(f"uploaded {done / 2**20:.1f} of {total / 2**20:.1f} MiB")

    state = StateStore(DEMO_DIR / "state")
    uploader = Uploader(api, DEMO_USER, state=state, on_progress=on_progress, on_event=progress)
    upload = uploader.upload(clip, title="Reelstack demo", resume="never")
    asset_id = upload["assetId"]
    progress(f"uploaded; waiting for the pipeline to process asset {asset_id}")
    started = time.monotonic()
    asset = wait_for_asset(api, asset_id, timeout=600, on_change=lambda seen: progress(describe_progress(seen)))
    elapsed = time.monotonic() - started
    item = session.client("dynamodb").get_item(TableName=outputs["tableName"], Key={"assetId": {"S": asset_id}})
    record = _plain(item.get("Item", {}))
    sfn = session.client("stepfunctions")
    arn = record.get("executionArn")
    return {
        "assetId": asset_id,
        "webPage": f"{outputs['apiUrl']}/#token={api.token}",
        "upload": upload,
        "asset": asset,
        "status": asset["status"],
        "secondsToOutcome": round(elapsed, 2),
        "execution": {
            "status": _execution_outcome(sfn, arn) if arn else None,
            "steps": execution_steps(sfn, arn) if arn else [],
        },
    }


EXECUTION_END_SECONDS = 60


def _execution_outcome(sfn: Any, arn: str) -> str:
    """The execution's status once it has ended: Publish makes the asset ready in its last step, and
    the execution ends a moment after (on a busy machine, after the demo has seen the asset ready)."""
    deadline = time.monotonic() + EXECUTION_END_SECONDS
    status = sfn.describe_execution(executionArn=arn)["status"]
    while status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = sfn.describe_execution(executionArn=arn)["status"]
    return status


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in item.items()}
