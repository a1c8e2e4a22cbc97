"""The foundation: template.yaml deploys to a fresh local cloud and its pipeline runs for real."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from reelstack_cli.demo import wait_for_execution
from reelstack_cli.settings import CHECKOUT
from tests.integration.conftest import Cli, Stack

EVENTS = CHECKOUT / "events" / "toolcheck"
CONTRACT_OUTPUTS = {"uploadBucket", "mediaBucket", "eventsTopicArn", "stateMachineArn", "tableName"}


def _invoke(stack: Stack, function: str, event: dict) -> tuple[str | None, dict]:
    response = stack.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_the_local_cloud_reports_every_service_it_needs(stack: Stack, cli: Cli) -> None:
    status = cli.json("local", "status")
    assert status["running"] is True
    assert status["version"] == "2026.3.0"
    assert {"lambda", "stepfunctions", "dynamodb", "s3", "sns", "cloudformation"} <= set(status["services"])
    assert all(state in ("running", "available") for state in status["services"].values())


def test_outputs_name_the_contract_resources(stack: Stack, cli: Cli) -> None:
    outputs = cli.json("outputs")
    assert set(outputs) >= CONTRACT_OUTPUTS
    assert outputs == stack.outputs
    s3 = stack.client("s3")
    for bucket in (outputs["uploadBucket"], outputs["mediaBucket"]):
        s3.head_bucket(Bucket=bucket)  # raises if the bucket was not created


def test_the_media_bucket_blocks_public_access(stack: Stack) -> None:
    block = stack.client("s3").get_public_access_block(Bucket=stack.outputs["mediaBucket"])
    assert all(block["PublicAccessBlockConfiguration"].values())


def test_the_toolchain_function_runs_ffmpeg_from_the_layer_and_writes_dynamodb(stack: Stack) -> None:
    asset_id = f"it-{uuid.uuid4().hex[:10]}"
    error, ffmpeg = _invoke(stack, stack.function_name("ToolchainCheckFunction"), {"assetId": asset_id})
    assert error is None, ffmpeg
    assert ffmpeg["version"] == "9.0.2"
    assert "/lambda/opt/" in ffmpeg["path"] and ffmpeg["path"].endswith("/bin/ffmpeg")  # the layer, not the host

    item = stack.client("dynamodb").get_item(TableName=stack.outputs["tableName"], Key={"assetId": {"S": asset_id}})
    toolchain = item["Item"]["toolchain"]["M"]
    assert toolchain["version"]["S"] == "9.0.2"
    assert toolchain["banner"]["S"].startswith("ffmpeg version n9.0.2")


def test_sample_events_drive_the_deployed_function(stack: Stack) -> None:
    function = stack.function_name("ToolchainCheckFunction")
    error, payload = _invoke(stack, function, json.loads((EVENTS / "check.json").read_text()))
    assert error is None and payload["version"] == "9.0.2"

    error, payload = _invoke(stack, function, json.loads((EVENTS / "missing-asset-id.json").read_text()))
    assert error == "Unhandled"
    assert payload["errorType"] == "InvalidInput"  # the name a state machine's Retry/Catch matches
    assert "assetId" in payload["errorMessage"]


def test_a_bad_input_fails_the_execution_by_name_without_retries(stack: Stack) -> None:
    sfn = stack.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=stack.outputs["stateMachineArn"], input=json.dumps({"assetId": ""}))
    described = wait_for_execution(sfn, execution["executionArn"], timeout=60)
    assert described["status"] == "FAILED"
    assert described["error"] == "AssetFailed"
    history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    errors = [
        details["error"]
        for event in history
        for details in [event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails")]
        if details
    ]
    assert errors == ["InvalidInput"]  # MaxAttempts 0: no retry; then the Catch recorded the failure
    entered = [event["stateEnteredEventDetails"]["name"] for event in history if event["type"].endswith("StateEntered")]
    assert entered == ["Probe source", "Record failure", "Failed"]


def test_function_logs_reach_cloudwatch_logs(stack: Stack) -> None:
    function = stack.function_name("ToolchainCheckFunction")
    _invoke(stack, function, {"assetId": f"logs-{uuid.uuid4().hex[:8]}"})
    logs = stack.client("logs")
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{function}")["logStreams"]
    messages = [
        event["message"]
        for stream in streams
        for event in logs.get_log_events(logGroupName=f"/aws/lambda/{function}", logStreamName=stream["logStreamName"])[
            "events"
        ]
    ]
    assert any("FFmpeg toolchain checked" in message for message in messages)  # Powertools Logger's line
    assert any(message.startswith("REPORT RequestId") for message in messages)


def test_a_code_change_takes_effect_on_the_next_invoke(stack: Stack, cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "project"
    source.mkdir()
    for part in ("template.yaml", "functions", "layers", "statemachines", "src", "web", "package-lock.json"):
        copy = shutil.copytree if (CHECKOUT / part).is_dir() else shutil.copy2
        copy(CHECKOUT / part, source / part)
    (source / "node_modules").symlink_to(CHECKOUT / "node_modules")  # hls.js for the web layer
    app = source / "functions" / "toolcheck" / "app.py"
    app.write_text(app.read_text().replace("return build", 'return {**build, "revision": "changed"}'))

    function = stack.function_name("ToolchainCheckFunction")
    assert "revision" not in _invoke(stack, function, {"assetId": "before-change"})[1]
    try:
        cli.run("deploy", env={"REELSTACK_PROJECT_ROOT": str(source)})
        error, payload = _invoke(stack, function, {"assetId": "after-change"})
        assert error is None
        assert payload["revision"] == "changed"
    finally:
        cli.run("deploy")  # leave the stack as the checkout describes it
    assert "revision" not in _invoke(stack, function, {"assetId": "restored"})[1]


def test_a_redeploy_without_changes_uploads_and_changes_nothing(stack: Stack, cli: Cli) -> None:
    result = cli.run("deploy")
    assert "no changes" in result.stderr
    assert "uploading" not in result.stderr
