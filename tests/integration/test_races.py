"""Races and faults on the local cloud: a delete while a step is writing, an execution stopped by hand,
and the sweeper that settles what no event announced. A step is held just before its upload with
FAULT_INJECTION=stall:<step> (the project's own switch: the local cloud has no fault injection)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.media import Clip, make_clip
from reelstack_cli.uploader import StateStore, Uploader, guess_content_type, wait_for_asset
from tests.integration.conftest import STALLABLE_STEPS, Stack

pytestmark = pytest.mark.localcloud
STALL_SECONDS = 5


def upload_clip(api: ApiClient, folder: Path, name: str) -> dict[str, Any]:
    # One keyframe, odd frame rate, portrait: not the pipeline's favourite kind of clip.
    clip = make_clip(folder / f"{name}.mp4", Clip(2, 360, 640, "25", gop_seconds=None))
    uploader = Uploader(api, "alice", state=StateStore(folder / "state"))
    return uploader.upload(clip, content_type=guess_content_type(clip), resume="never")


def objects_under(stack: Stack, asset_id: str) -> list[str]:
    listing = stack.client("s3").list_objects_v2(Bucket=stack.outputs["mediaBucket"], Prefix=f"assets/{asset_id}/")
    return [item["Key"] for item in listing.get("Contents", [])]


def settle(stack: Stack, asset_id: str) -> list[str]:
    """What is left once the held step has had time to upload, notice, and clean up after itself."""
    time.sleep(STALL_SECONDS + 6)
    return objects_under(stack, asset_id)


def execution_of(stack: Stack, asset_id: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.outputs["stateMachineArn"])["executions"]
    return next(item for item in executions if item["name"].startswith(asset_id))


@pytest.mark.parametrize("step", list(STALLABLE_STEPS))
def test_a_delete_while_a_step_is_writing_leaves_nothing_behind(
    step: str, stack: Stack, alice: ApiClient, tmp_path: Path
) -> None:
    with stack.stalled(step, STALL_SECONDS):
        uploaded = upload_clip(alice, tmp_path, f"deleted-during-{step}")
        asset_id = uploaded["assetId"]
        stack.wait_until_stalled(asset_id, step)
        alice.delete(f"/assets/{asset_id}")
        with pytest.raises(ApiError) as gone:
            alice.get(f"/assets/{asset_id}")
        assert gone.value.status == 404
        assert settle(stack, asset_id) == []
    assert execution_of(stack, asset_id)["status"] != "RUNNING"  # the delete stopped it


def test_an_execution_stopped_by_hand_fails_its_asset_through_the_eventbridge_rule(
    stack: Stack, alice: ApiClient, events_queue: Callable[[], list[dict[str, Any]]], tmp_path: Path
) -> None:
    events_queue()
    with stack.stalled("hls", STALL_SECONDS):
        uploaded = upload_clip(alice, tmp_path, "stopped")
        asset_id = uploaded["assetId"]
        stack.wait_until_stalled(asset_id, "hls")
        stack.client("stepfunctions").stop_execution(executionArn=execution_of(stack, asset_id)["executionArn"])
        asset = wait_for_asset(alice, asset_id, timeout=60)
        assert (asset["status"], asset["error"]["code"]) == ("failed", "PipelineStopped")
        assert asset["error"]["message"] == "processing was stopped before it finished"
        assert settle(stack, asset_id) == []  # the held transcode saw the failure and removed its outputs
    time.sleep(1)
    failed = [event for event in events_queue() if event["assetId"] == asset_id and event["type"] == "asset.failed"]
    assert len({event["eventId"] for event in failed}) == 1, failed  # delivered at least once: one eventId


def test_the_sweeper_settles_an_asset_whose_execution_ended_without_an_event(
    stack: Stack, alice: ApiClient, tmp_path: Path
) -> None:
    """With the EventBridge rule's target removed (an event that never came), the sweeper is the backstop."""
    events, watcher = stack.client("events"), stack.function_name("ExecutionEndedFunction")
    rule, targets = next(
        (rule["Name"], targets)
        for rule in events.list_rules()["Rules"]
        for targets in [events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
        if any(watcher in target["Arn"] for target in targets)
    )
    events.remove_targets(Rule=rule, Ids=[target["Id"] for target in targets])
    try:
        with stack.stalled("hls", STALL_SECONDS):
            uploaded = upload_clip(alice, tmp_path, "unnoticed")
            asset_id = uploaded["assetId"]
            stack.wait_until_stalled(asset_id, "hls")
            sfn, arn = stack.client("stepfunctions"), execution_of(stack, asset_id)["executionArn"]
            sfn.stop_execution(executionArn=arn)
            deadline = time.monotonic() + 60  # the local cloud ends it once the task in flight returns
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)
            assert alice.get(f"/assets/{asset_id}")["status"] == "processing"  # nobody noticed
            answer = stack.client("lambda").invoke(
                FunctionName=stack.function_name("UploadSweeperFunction"),
                Payload=json.dumps({"stuckAfterSeconds": 0}),
            )
            settled = json.loads(answer["Payload"].read())["settled"]
            assert [item["assetId"] for item in settled if item.get("announced")] == [asset_id]
            asset = alice.get(f"/assets/{asset_id}")
            assert (asset["status"], asset["error"]["code"]) == ("failed", "PipelineStopped")
            assert settle(stack, asset_id) == []
    finally:
        events.put_targets(Rule=rule, Targets=targets)
