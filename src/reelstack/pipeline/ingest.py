"""S3 ObjectCreated -> one execution per object version, with the job as its input."""

from __future__ import annotations

import hashlib
import json
import logging
import time
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
from reelstack.store import uploads as ledger
from reelstack.store.events import EventType
from reelstack.store.keys import SourceKey
from reelstack.store.records import AssetModel, Change, UploadModel, utc_now
from reelstack.store.states import AssetStatus, UploadStatus, upload_mode

log = logging.getLogger(__name__)


def execution_name(asset_id: str, version_id: str | None) -> str:
    """Deterministic, so Step Functions itself refuses a second execution for the same version."""
    return f"{asset_id}-{hashlib.sha256((version_id or 'null').encode()).hexdigest()[:16]}"


def ingest(bucket: str, raw_key: str, version_id: str | None, size: int, etag: str = "") -> dict[str, Any]:
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
    if upload_mode(upload.mode).single:
        refused = _single_request_arrived(upload, key, size, etag, version_id)
        if refused is not None:
            return refused

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


def _single_request_arrived(
    upload: UploadModel, key: str, size: int, etag: str, version_id: str | None
) -> dict[str, Any] | None:
    """A single PUT or POST form has no complete: its object's arrival completes the upload, once,
    when the upload is open and the object is the size it declared (PUT, POST /uploads) or within
    the policy's bound (Uppy's POST form). None: go on and start the pipeline; else the refusal.
    Nothing else starts it: an object no open upload accounts for is rejected above or here."""
    if upload.status == UploadStatus.COMPLETED:
        if upload.version_id == version_id:
            return None  # this very object, its event delivered again
        return _reject(key, upload.asset_id, upload.owner_id, "UploadCompleted", "the upload already has its object")
    within = size == int(upload.size) if upload.size is not None else 0 < size <= int(upload.max_size or 0)
    if not within:
        error = SourceMismatch(f"the object is {size} bytes, not what the upload allows", code="SizeMismatch")
        record_failure(upload.asset_id, upload.owner_id, error.code, error.message)
        return {"assetId": upload.asset_id, "failed": error.code}
    now = utc_now()
    purge_at = int(time.time()) + deployment().limits.ledger_retention_days * 86400
    if not ledger.arrive(upload, size, etag.strip('"').lower(), version_id, now, purge_at):
        upload.refresh(consistent_read=True)
        if upload.status != UploadStatus.COMPLETED or upload.version_id != version_id:
            return _reject(key, upload.asset_id, upload.owner_id, "UploadNotActive", f"the upload is {upload.status}")
    if upload.max_size is not None:
        assets.record_source_size(upload.asset_id, size)
    upload.refresh(consistent_read=True)
    return None


def _reject(key: str, asset_id: str | None, owner_id: str | None, code: str, message: str) -> dict[str, Any]:
    log.error("rejected object %s: %s", key, message)
    events.announce(
        events.event(EventType.UPLOAD_REJECTED, asset_id, owner_id, key=key, error={"code": code, "message": message})
    )
    return {"rejected": code, "key": key}
