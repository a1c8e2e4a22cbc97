"""The foundation: template.yaml deploys to a fresh local cloud and its pipeline runs for real."""

from __future__ import annotations

import json
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reelstack_cli.api_client import ApiClient, ApiError
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


def _project_copy(folder: Path) -> Path:
    """A copy of the project's deployable sources, to change and deploy in place of the checkout."""
    source = folder / "project"
    source.mkdir()
    for part in (
        "template.yaml",
        "functions",
        "layers",
        "infra/speech-model",
        "statemachines",
        "src",
        "web",
        "package-lock.json",
    ):
        copy = shutil.copytree if (CHECKOUT / part).is_dir() else shutil.copy2
        copy(CHECKOUT / part, source / part)
    (source / "node_modules").symlink_to(CHECKOUT / "node_modules")  # hls.js for the web layer
    return source


def _add_route(source: Path) -> None:
    """GET /redeploy-check: a Chalice route and its SAM event, the way a developer adds one."""
    template = source / "template.yaml"
    catch_all = "        UnknownRoute:\n"
    event = """\
        RedeployCheck:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /redeploy-check, Method: ANY}
"""
    assert catch_all in template.read_text()
    template.write_text(template.read_text().replace(catch_all, event + catch_all, 1))
    app = source / "functions" / "api" / "app.py"
    view = """

@route("/redeploy-check", "GET", public=True)
def redeploy_check() -> dict:
    return {"route": "added"}
"""
    app.write_text(app.read_text() + view)


def _new_route_answer(api: ApiClient) -> dict:
    try:
        return api.get("/redeploy-check")
    except ApiError as error:
        return {"status": error.status, "code": error.code}


def test_a_changed_project_redeploys_over_the_existing_stack(
    stack: Stack, cli: Cli, alice: ApiClient, tmp_path: Path
) -> None:
    """A code change and a route change (a new route; on AWS a new API deployment for its stage) take
    effect on the next `reelstack deploy` over the running stack: same API URL, data kept. Both ride one
    redeploy (and one more to put the checkout back), which is most of this test's time."""
    source = _project_copy(tmp_path)
    app = source / "functions" / "toolcheck" / "app.py"
    app.write_text(app.read_text().replace("return build", 'return {**build, "revision": "changed"}'))
    _add_route(source)
    kept = f"it-redeploy-{uuid.uuid4().hex[:8]}"
    stack.client("dynamodb").put_item(TableName=stack.outputs["tableName"], Item={"assetId": {"S": kept}})
    stack.client("s3").put_object(Bucket=stack.outputs["mediaBucket"], Key=f"{kept}/kept.txt", Body=b"kept")

    function = stack.function_name("ToolchainCheckFunction")
    assert "revision" not in _invoke(stack, function, {"assetId": "before-change"})[1]
    assert _new_route_answer(alice) == {"status": 404, "code": "RouteNotFound"}
    try:
        deployed = cli.json("deploy", env={"REELSTACK_PROJECT_ROOT": str(source)})
        assert deployed["outputs"] == stack.outputs  # the same API, stage, tables and buckets
        error, payload = _invoke(stack, function, {"assetId": "after-change"})
        assert error is None
        assert payload["revision"] == "changed"
        assert _new_route_answer(alice) == {"route": "added"}
        assert "items" in alice.get("/assets")  # the routes it had still answer
    finally:
        cli.run("deploy")  # leave the stack as the checkout describes it (the route removed: a route change too)
    assert "revision" not in _invoke(stack, function, {"assetId": "restored"})[1]
    assert _new_route_answer(alice) == {"status": 404, "code": "RouteNotFound"}
    table_item = stack.client("dynamodb").get_item(TableName=stack.outputs["tableName"], Key={"assetId": {"S": kept}})
    assert "Item" in table_item
    assert (
        stack.client("s3").get_object(Bucket=stack.outputs["mediaBucket"], Key=f"{kept}/kept.txt")["Body"].read()
        == b"kept"
    )


def test_a_redeploy_without_changes_uploads_and_changes_nothing(stack: Stack, cli: Cli) -> None:
    result = cli.run("deploy")
    assert "no changes" in result.stderr
    assert "uploading" not in result.stderr


def test_a_cancelled_transaction_loses_no_other_write_to_its_table(stack: Stack) -> None:
    """The local cloud's DynamoDB (moto) put back its copy of a table when a transaction was cancelled,
    undoing what other requests wrote to that table meanwhile (an asset's move to processing, once; the
    asset stayed uploaded). Cancelled transactions on one item, racing plain writes of others: every
    write stays."""
    table, prefix = stack.outputs["tableName"], f"race-{uuid.uuid4().hex[:8]}"
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"assetId": {"S": f"{prefix}-held"}, "status": {"S": "ready"}})
    cancelled = []

    def cancelled_transactions() -> None:
        for _ in range(40):
            try:
                dynamodb.transact_write_items(TransactItems=[{"Update": {
                    "TableName": table, "Key": {"assetId": {"S": f"{prefix}-held"}},
                    "UpdateExpression": "SET #s = :s", "ConditionExpression": "#s = :never",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "failed"}, ":never": {"S": "uploading"}},
                }}])  # fmt: skip
            except dynamodb.exceptions.TransactionCanceledException:
                cancelled.append(1)

    def plain_writes() -> None:
        for index in range(120):
            dynamodb.put_item(TableName=table, Item={"assetId": {"S": f"{prefix}-{index}"}})

    with ThreadPoolExecutor(4) as pool:
        for done in [
            pool.submit(cancelled_transactions),
            pool.submit(cancelled_transactions),
            pool.submit(plain_writes),
        ]:
            done.result()
    assert len(cancelled) == 80
    keys = [{"assetId": {"S": f"{prefix}-{index}"}} for index in range(120)]
    kept = [key for key in keys if "Item" in dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)]
    assert len(kept) == 120, f"{120 - len(kept)} writes lost"
