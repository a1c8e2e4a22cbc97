"""Ingest with its sample events: one execution per object version, objects nobody declared rejected."""

from __future__ import annotations

from typing import Any

import boto3

from reelstack.store.records import AssetModel, UploadModel
from tests.unit.conftest import load_handler
from tests.unit.pipeline.conftest import ingest_event, machine_arn


def test_ingest_starts_one_execution_per_object_version(pipeline: dict[str, Any]) -> None:
    handler = load_handler("ingest")
    first = handler(ingest_event(pipeline), None)
    assert first[0]["started"] is True
    assert handler(ingest_event(pipeline), None) == first  # redelivered: idempotency answers
    assert len(boto3.client("stepfunctions").list_executions(stateMachineArn=machine_arn())["executions"]) == 1
    assert [event["type"] for event in pipeline["events"]()] == ["upload.completed"]


def test_ingest_rejects_objects_no_upload_declared(pipeline: dict[str, Any]) -> None:
    outcome = load_handler("ingest")(ingest_event(pipeline, "object-without-upload.json"), None)
    assert outcome[0]["rejected"] == "NoUploadRecord"
    assert boto3.client("stepfunctions").list_executions(stateMachineArn=machine_arn())["executions"] == []
    assert [event["type"] for event in pipeline["events"]()] == ["upload.rejected"]


def test_an_event_that_overtakes_complete_still_starts_once(aws: None, pipeline: dict[str, Any]) -> None:
    """S3 may announce the object before the API has recorded the completion: ingest does not care."""
    upload = pipeline["upload"]
    upload.update(actions=[UploadModel.status.set("uploading")])
    AssetModel(upload.asset_id).update(actions=[AssetModel.status.set("uploading")])
    outcome = load_handler("ingest")(ingest_event(pipeline), None)
    assert outcome[0]["started"] is True
    assert AssetModel.get(upload.asset_id).status == "uploaded"


def test_an_event_for_an_aborted_upload_is_rejected(pipeline: dict[str, Any]) -> None:
    upload = pipeline["upload"]
    upload.update(actions=[UploadModel.status.set("aborted")])
    outcome = load_handler("ingest")(ingest_event(pipeline), None)
    assert outcome[0]["rejected"] == "UploadNotActive"
    assert boto3.client("stepfunctions").list_executions(stateMachineArn=machine_arn())["executions"] == []
    rejected = pipeline["events"]()
    assert [(event["type"], event["error"]["code"]) for event in rejected] == [("upload.rejected", "UploadNotActive")]
