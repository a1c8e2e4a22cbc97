"""Failures reach the asset once, with a sentence: Record failure, ended executions, the sweeper."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from reelstack.media import identify
from reelstack.pipeline.failures import failure_from_state_error
from reelstack.store.records import AssetModel
from reelstack_cli.settings import CHECKOUT
from tests.unit.conftest import MEDIA_BUCKET, load_event, load_handler


@pytest.mark.parametrize(("event", "code"), [("caught-error.json", "NotMedia"), ("timeout.json", "PipelineTimeout")])
def test_record_failure_marks_the_asset_and_removes_partial_outputs(
    pipeline: dict[str, Any], event: str, code: str
) -> None:
    asset_id = pipeline["upload"].asset_id
    boto3.client("s3").put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/hls/720p/segment_00000.m4s", Body=b"x")
    job = load_event(f"record_failure/{event}")
    job.update(assetId=asset_id, ownerId="alice")
    outcome = load_handler("record_failure")(job, None)
    assert (outcome["code"], outcome["removedObjects"], outcome["announced"]) == (code, 1, True)
    asset = AssetModel.get(asset_id)
    assert (asset.status, asset.error.code) == ("failed", code)
    assert boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET).get("KeyCount", 0) == 0
    assert load_handler("record_failure")(job, None)["announced"] is False
    assert [event["type"] for event in pipeline["events"]()].count("asset.failed") == 1


@pytest.mark.parametrize(
    ("error", "code", "sentence"),
    [
        ({"Error": "Sandbox.Timedout", "Cause": '{"errorMessage": "Task timed out after 900.00 seconds"}'},
         "PipelineTimeout", "processing took longer than the pipeline allows"),
        ({"Error": "KeyError", "Cause": '{"errorMessage": "\'renditions\'", "stackTrace": ["  File /var/task"]}'},
         "KeyError", "processing failed unexpectedly; the operators have the details"),
        ({"Error": "States.Runtime", "Cause": "An error occurred while executing the state 'Publish' (entered at"
          " the event id #42). The JSONPath '$.outputs[1]' could not be found in the input"},
         "Runtime", "processing failed unexpectedly; the operators have the details"),
        ({"Error": "UnsupportedMedia", "Cause": '{"errorMessage": "NotMedia: the file is not a video"}'},
         "NotMedia", "the file is not a video"),
        ({"Error": "Lambda.TooManyRequestsException", "Cause": "Rate Exceeded. (Service: Lambda, Status Code: 429)"},
         "PipelineBusy", "too many videos were being processed at once for too long; uploading it again later "
         "should work"),
    ],
)  # fmt: skip
def test_failures_outside_the_domain_reach_users_as_plain_sentences(error: dict, code: str, sentence: str) -> None:
    """Lambda's and Python's own words (request ids, paths, JSONPaths) stay in the log."""
    assert failure_from_state_error(error) == (code, sentence)


def test_the_sample_failure_events_say_what_the_pipeline_says() -> None:
    """events/ shows the real refusal of a file that is no media at all, as the probe raises it, as
    Record failure reads it and as asset.failed announces it."""
    refusal = identify.UNKNOWN.refusal()
    caught = load_event("record_failure/caught-error.json")
    assert "media" not in caught  # caught at "Probe source", before the probe's facts exist
    assert json.loads(caught["error"]["Cause"]) == {"errorType": type(refusal).__name__, "errorMessage": str(refusal)}
    assert failure_from_state_error(caught["error"]) == (refusal.code, refusal.message)
    announced = json.loads(load_event("notify/asset-failed.json")["Records"][0]["Sns"]["Message"])
    assert announced["error"] == {"code": refusal.code, "message": refusal.message}


def ended_event(name: str, asset_id: str, execution: str) -> dict[str, Any]:
    event = json.loads(
        (CHECKOUT / "events" / "execution_ended" / name).read_text().replace("01kbbbbbbbbbbbbbbbbbbbbbbb", asset_id)
    )
    event["detail"]["executionArn"] = execution
    return event


@pytest.mark.parametrize(("name", "code"), [("aborted.json", "PipelineStopped"), ("timed-out.json", "PipelineTimeout")])
def test_an_execution_that_ends_without_its_catch_fails_its_asset_once(
    pipeline: dict[str, Any], name: str, code: str
) -> None:
    asset_id = pipeline["upload"].asset_id
    execution = f"arn:aws:states:us-east-1:123456789012:execution:unit-pipeline:{asset_id}-0123456789abcdef"
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(execution)])
    s3 = boto3.client("s3")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/hls/360p/segment_00000.m4s", Body=b"x")
    pipeline["events"]()
    outcome = load_handler("execution_ended")(ended_event(name, asset_id, execution), None)
    assert (outcome["code"], outcome["announced"], outcome["removedObjects"]) == (code, True, 1)
    asset = AssetModel.get(asset_id)
    assert (asset.status, asset.error.code) == ("failed", code)
    assert " " in asset.error.message and "arn:" not in asset.error.message
    assert load_handler("execution_ended")(ended_event(name, asset_id, execution), None)["announced"] is False
    assert [event["type"] for event in pipeline["events"]()] == ["asset.failed"]


def test_an_ended_execution_leaves_deleted_ready_and_other_executions_assets_alone(pipeline: dict[str, Any]) -> None:
    asset_id = pipeline["upload"].asset_id
    mine = f"arn:aws:states:us-east-1:123456789012:execution:unit-pipeline:{asset_id}-0123456789abcdef"
    s3 = boto3.client("s3")
    pipeline["events"]()
    # Another execution owns the asset: not this one's business.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(mine + "0")])
    assert "ignored" in load_handler("execution_ended")(ended_event("aborted.json", asset_id, mine), None)
    # Deleted while processing (a delete stops the execution): not a failure to announce, but what a
    # late step wrote afterwards goes.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("deleted"), AssetModel.execution_arn.set(mine)])
    s3.put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/thumbnails/poster.jpg", Body=b"late")
    outcome = load_handler("execution_ended")(ended_event("aborted.json", asset_id, mine), None)
    assert (outcome["announced"], outcome["removedObjects"]) == (False, 1)
    assert AssetModel.get(asset_id).status == "deleted"
    # Ready: the outputs are live.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("ready")])
    s3.put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/hls/master.m3u8", Body=b"#EXTM3U")
    outcome = load_handler("execution_ended")(ended_event("timed-out.json", asset_id, mine), None)
    assert (outcome["announced"], outcome["removedObjects"]) == (False, 0)
    assert AssetModel.get(asset_id).status == "ready"
    assert pipeline["events"]() == []


def test_the_sweeper_settles_an_asset_whose_execution_ended_unnoticed(pipeline: dict[str, Any]) -> None:
    """The backstop for an EventBridge event that never came: still processing, execution over."""
    asset_id = pipeline["upload"].asset_id
    sfn = boto3.client("stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    job = json.dumps({"assetId": asset_id, "ownerId": "alice"})
    execution = sfn.start_execution(stateMachineArn=machine, name=f"{asset_id}-0123456789abcdef", input=job)
    execution = execution["executionArn"]
    running_too = sfn.start_execution(stateMachineArn=machine, name="other-running")["executionArn"]
    sfn.stop_execution(executionArn=execution)
    old = "2020-01-01T00:00:00.000Z"
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(execution),
                                         AssetModel.updated_at.set(old)])  # fmt: skip
    pipeline["events"]()
    event = load_event("upload_sweeper/hourly.json")
    assert load_handler("upload_sweeper")(event, None)["settled"][0]["code"] == "PipelineStopped"
    assert AssetModel.get(asset_id).status == "failed"
    assert [event["type"] for event in pipeline["events"]()] == ["asset.failed"]
    # A running execution's asset is left alone, however old.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(running_too),
                                         AssetModel.updated_at.set(old)])  # fmt: skip
    assert load_handler("upload_sweeper")(event, None)["settled"] == []
    assert AssetModel.get(asset_id).status == "processing"
