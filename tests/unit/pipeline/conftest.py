"""The pipeline tests' world: a declared and completed upload of a real clip, a topic, a state machine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelstack.bodies import CompleteUpload, CreateUpload
from reelstack.derivatives import speech
from reelstack.store.records import UploadModel
from reelstack.uploads.service import Uploads
from reelstack_cli import media as test_media
from tests.unit.conftest import UPLOAD_BUCKET, load_event


@pytest.fixture
def pipeline(aws: None, setenv: Callable[..., None], tmp_path: Path) -> dict[str, Any]:
    """A declared and completed upload of a real 2 s clip in moto's S3, a topic and a state machine."""
    return uploaded_clip(setenv, tmp_path, seconds=2)


@pytest.fixture
def long_pipeline(aws: None, setenv: Callable[..., None], tmp_path: Path) -> dict[str, Any]:
    """The same with a 14 s clip: two chunks of 6 s, the second with the 2 s after 12 s."""
    return uploaded_clip(setenv, tmp_path, seconds=14)


def uploaded_clip(
    setenv: Callable[..., None], tmp_path: Path, seconds: float = 2, clip: Path | None = None, **declared: Any
) -> dict[str, Any]:
    """A declared and completed upload of ``clip`` (default: a generated 320x180 clip of ``seconds``);
    ``declared``: more of POST /uploads' body (``downloads=[...]``)."""
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="unit-events")["TopicArn"]
    queue = boto3.client("sqs").create_queue(QueueName="unit-events")["QueueUrl"]
    queue_arn = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"], Attributes={"RawMessageDelivery": "true"}
    )
    machine = boto3.client("stepfunctions").create_state_machine(
        name="unit-pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/unit",
    )["stateMachineArn"]
    setenv(EVENTS_TOPIC_ARN=topic, STATE_MACHINE_ARN=machine, DERIVE_STATE_MACHINE_ARN=machine)
    clip = clip or test_media.generate_clip(tmp_path / "clip.mp4", seconds=seconds, width=320, height=180)
    data = clip.read_bytes()
    uploads = Uploads()
    content_type = "audio/mp4" if clip.suffix == ".m4a" else "video/mp4"
    declaration = CreateUpload(filename=clip.name, size=len(data), contentType=content_type, **declared)
    created = uploads.create("alice", declaration, speech.requested_tracks(declaration.generated_captions))
    upload = UploadModel.get(created["uploadId"])
    part = boto3.client("s3").upload_part(
        Bucket=UPLOAD_BUCKET, Key=upload.key, UploadId=upload.s3_upload_id, PartNumber=1, Body=data
    )
    uploads.complete(
        "alice", created["uploadId"], lambda: CompleteUpload(parts=[{"partNumber": 1, "etag": part["ETag"]}])
    )
    upload.refresh()

    def events() -> list[dict[str, Any]]:
        messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return {"upload": upload, "size": len(data), "events": events, "clip": clip}


def ingest_event(pipeline: dict[str, Any], name: str = "object-created.json") -> dict[str, Any]:
    event = load_event(f"ingest/{name}")
    record = event["Records"][0]["s3"]
    upload = pipeline["upload"]
    record["bucket"]["name"] = UPLOAD_BUCKET
    if name == "object-created.json":
        record["object"].update(key=upload.key, size=pipeline["size"], versionId=upload.version_id)
    return event


def job_event(name: str, pipeline: dict[str, Any], **replace: Any) -> dict[str, Any]:
    upload = pipeline["upload"]
    job = load_event(name)
    job.update(assetId=upload.asset_id, ownerId="alice", uploadId=upload.upload_id, **replace)
    job["source"].update(bucket=UPLOAD_BUCKET, key=upload.key, versionId=upload.version_id, size=pipeline["size"])
    return job


def machine_arn() -> str:
    import os

    return os.environ["STATE_MACHINE_ARN"]
