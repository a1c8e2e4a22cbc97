"""How a failure reaches the asset: Record failure (the state machine's Catch), executions that ended
without reaching it (EventBridge), and the sweeper that backs EventBridge up. Every path ends in
``record_failure``: the asset fails once, with a code and a sentence, and its partial outputs go."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from reelstack import aws
from reelstack.errors import code_and_message, domain_error_names
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys, is_id
from reelstack.store.objects import delete_prefix
from reelstack.store.records import AssetModel, ErrorAttribute, iso
from reelstack.store.states import AssetStatus, is_gone

log = logging.getLogger(__name__)


def record_failure(asset_id: Any, owner_id: Any, code: str, message: str) -> dict[str, Any]:
    """The asset becomes failed with a code and a human message; its partial outputs are removed.

    The status moves first and the objects go after: a step still running elsewhere either sees the
    asset failed when it checks after its upload (and removes what it wrote), or uploaded before
    that check, and so before this deletion."""
    if not is_id(str(asset_id)):
        log.error("failure of a job without an asset: %s %s", code, message)
        return {"assetId": None, "status": "failed", "code": code, "announced": False}
    failed = events.event(EventType.ASSET_FAILED, asset_id, owner_id, error={"code": code, "message": message})
    error = ErrorAttribute(code=code, message=message[:1000])
    moved = assets.move(asset_id, AssetStatus.FAILED, error=error, announcing=failed)
    # Never the outputs of an asset that became ready: a failure reported after Publish succeeded
    # (a lost answer, then a Catch) must not take a playing video away.
    gone = moved or is_gone(assets.status_now(asset_id))
    removed = delete_prefix(MediaKeys(asset_id).prefix) if gone else 0
    if moved:
        events.publish(failed)
    return {"assetId": asset_id, "status": "failed", "code": code, "removedObjects": removed, "announced": moved}


def failure_from_state_error(error: dict[str, Any]) -> tuple[str, str]:
    """Step Functions' ``{Error, Cause}`` -> the asset's ``(code, message)``."""
    name = error.get("Error") or "States.TaskFailed"
    cause = error.get("Cause") or ""
    try:
        details = json.loads(cause)
    except ValueError:
        details = None
    text = str(details.get("errorMessage", cause) if isinstance(details, dict) else cause)
    code, message = code_and_message(text, _ERROR_CODES.get(name, name.rsplit(".", 1)[-1]))
    if name in domain_error_names():
        return code, message
    # Lambda's or Python's own words (timeouts with request ids, tracebacks) are for operators only.
    log.error("step failed outside the domain: %s %s", name, cause[:2000])
    return code, _PLAIN_REASONS.get(code, "processing failed unexpectedly; the operators have the details")


_PLAIN_REASONS = {
    "PipelineTimeout": "processing took longer than the pipeline allows",
    "PipelineBusy": "too many videos were being processed at once for too long; uploading it again later should work",
    "OutOfMemory": "processing needed more memory than the pipeline has",
}
# Codes clients see for failures that Lambda or Step Functions report, not the domain.
_ERROR_CODES = {
    "States.Timeout": "PipelineTimeout",
    "Sandbox.Timedout": "PipelineTimeout",
    "Runtime.OutOfMemory": "OutOfMemory",
    "States.TaskFailed": "PipelineError",
    # A step refused for want of concurrency (EncodeConcurrency) for longer than its patient Retry waits.
    "Lambda.TooManyRequestsException": "PipelineBusy",
}
# Executions that ended without reaching Record failure, as the asset's error.
_ENDED_WITHOUT_CATCH = {
    "TIMED_OUT": ("PipelineTimeout", _PLAIN_REASONS["PipelineTimeout"]),
    "ABORTED": ("PipelineStopped", "processing was stopped before it finished"),
    "FAILED": ("PipelineError", "processing failed unexpectedly; the operators have the details"),
}


def execution_ended(execution_arn: str, status: str, execution_input: str | None) -> dict[str, Any]:
    """An execution ended FAILED, TIMED_OUT or ABORTED (EventBridge, or the sweeper that backs it up).
    If it still owned a live asset, the asset fails with a clear reason and one asset.failed, as the
    Catch would have done; an asset that was deleted (a delete stops its execution) or that is
    already failed or ready is left as it is, and whatever a late step wrote under a gone asset's
    prefix is removed."""
    if status not in _ENDED_WITHOUT_CATCH:
        return {"ignored": f"status {status}"}
    try:
        state = json.loads(execution_input or "{}")
    except ValueError:
        state = {}
    asset_id = state.get("assetId") if isinstance(state, dict) else None
    asset_id = asset_id or execution_arn.rsplit(":", 1)[-1].split("-", 1)[0]  # names start with the asset id
    if not is_id(str(asset_id)):
        return {"ignored": "no asset"}
    try:
        asset = AssetModel.get(asset_id, consistent_read=True)
    except DoesNotExist:
        return {"ignored": "no asset", "assetId": asset_id}
    if asset.execution_arn and asset.execution_arn != execution_arn:
        return {"ignored": "another execution owns the asset", "assetId": asset_id}
    code, message = _ENDED_WITHOUT_CATCH[status]
    return record_failure(asset_id, asset.owner_id, code, message)


# Longer than any step takes to move an asset on: an asset unchanged this long may be stuck.
STUCK_AFTER_SECONDS = 1800


def sweep_stuck(older_than_seconds: float = STUCK_AFTER_SECONDS) -> list[dict[str, Any]]:
    """The backstop for EventBridge events that never came: assets still ``uploaded`` or ``processing``
    well after their last change whose execution has ended are settled as execution_ended would."""
    cutoff = iso(datetime.now(UTC) - timedelta(seconds=older_than_seconds))
    settled = []
    stuck = AssetModel.scan(  # hourly, over the few live assets; deleted/ready/failed are filtered out
        AssetModel.status.is_in(AssetStatus.UPLOADED, AssetStatus.PROCESSING) & (AssetModel.updated_at < cutoff)
    )
    sfn = aws.client("stepfunctions")
    for asset in stuck:
        if not asset.execution_arn:
            continue
        try:
            execution = sfn.describe_execution(executionArn=asset.execution_arn)
        except ClientError as error:
            if aws.error_code(error) != "ExecutionDoesNotExist":
                raise
            execution = {"status": "ABORTED", "input": None}  # gone from the history: it is not running
        if execution["status"] != "RUNNING":
            settled.append(execution_ended(asset.execution_arn, execution["status"], execution.get("input")))
    return settled
