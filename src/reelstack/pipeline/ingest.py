"""S3 ObjectCreated -> one execution per object version, with the job as its input."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from reelstack import aws
from reelstack.config import deployment
from reelstack.errors import InvalidInput, SourceMismatch
from reelstack.pipeline.failures import record_failure
from reelstack.pipeline.faults import fail_while_named
from reelstack.pipeline.job import Job, Source
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.keys import SourceKey
from reelstack.store.records import AssetModel, Change, UploadModel
from reelstack.store.states import AssetStatus, UploadStatus

log = logging.getLogger(__name__)


def execution_name(asset_id: str, version_id: str | None) -> str:
    """Deterministic, so Step Functions itself refuses a second execution for the same version."""
    return f"{asset_id}-{hashlib.sha256((version_id or 'null').encode()).hexdigest()[:16]}"


def ingest(bucket: str, raw_key: str, version_id: str | None, size: int) -> dict[str, Any]:
    """Check the object against its upload; mark the asset uploaded and start its execution once."""
    key = unquote_plus(raw_key)
    try:
        source = SourceKey.parse(key)
        upload = UploadModel.get(source.upload_id, consistent_read=True)
    except (InvalidInput, DoesNotExist):
        return _reject(key, None, None, "NoUploadRecord", "no upload declared this object")
    if (upload.owner_id, upload.asset_id, upload.key) != (source.owner_id, source.asset_id, key):
        return _reject(key, None, None, "NoUploadRecord", "the object's key does not match its upload record")
    if upload.status in (UploadStatus.ABORTED, UploadStatus.EXPIRED):
        return _reject(key, upload.asset_id, upload.owner_id, "UploadNotActive", f"the upload is {upload.status}")
    fail_while_named("ingest")  # before anything moves: a redriven event finds the asset as it was

    if size != int(upload.size):
        error = SourceMismatch(
            f"the object is {size} bytes; the upload declared {int(upload.size)}", code="SizeMismatch"
        )
        record_failure(upload.asset_id, upload.owner_id, error.code, error.message)
        return {"assetId": upload.asset_id, "failed": error.code}
    job = Job(
        asset_id=upload.asset_id,
        owner_id=upload.owner_id,
        upload_id=upload.upload_id,
        chunk_seconds=deployment().chunk_seconds,
        chunk_concurrency=deployment().chunk_concurrency,
        normalize_audio=bool(upload.normalize_audio),
        source=Source(
            bucket=bucket,
            key=key,
            version_id=version_id,
            size=int(upload.size),
            content_type=upload.content_type,
            sha256=upload.sha256,
        ),
    )
    assets.move(upload.asset_id, AssetStatus.UPLOADED)
    name = execution_name(upload.asset_id, version_id)
    try:
        arn = aws.client("stepfunctions").start_execution(
            stateMachineArn=deployment().state_machine_arn, name=name, input=json.dumps(job.as_state())
        )["executionArn"]
    except ClientError as error:
        if aws.error_code(error) != "ExecutionAlreadyExists":
            raise
        log.info("execution %s exists already: a duplicate event", name)
        return {"assetId": upload.asset_id, "execution": name, "started": False}
    completed = events.event(
        EventType.UPLOAD_COMPLETED, upload.asset_id, upload.owner_id, size=size, versionId=version_id
    )
    events.announce(completed, Change(AssetModel(upload.asset_id), [AssetModel.execution_arn.set(arn)]), "the asset")
    return {"assetId": upload.asset_id, "execution": name, "started": True}


def _reject(key: str, asset_id: str | None, owner_id: str | None, code: str, message: str) -> dict[str, Any]:
    log.error("rejected object %s: %s", key, message)
    events.announce(
        events.event(EventType.UPLOAD_REJECTED, asset_id, owner_id, key=key, error={"code": code, "message": message})
    )
    return {"rejected": code, "key": key}
