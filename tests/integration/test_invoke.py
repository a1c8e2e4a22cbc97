"""``reelstack invoke`` on the local cloud: the sample events of each kind of function (an API route, an
S3 notification, a state of the pipeline) run in the deployed function, as ``sam local invoke`` would
run them in a container: the result on stdout, the logs on stderr, a non-zero exit on error."""

from __future__ import annotations

import json

from reelstack_cli.settings import CHECKOUT
from tests.integration.conftest import Stack

EVENTS = CHECKOUT / "events"


def test_an_api_route_answers_and_user_signs_the_event_for_that_user(stack: Stack) -> None:
    # The first call builds and deploys what changed (nothing here), as `sam local invoke` builds.
    ran = stack.cli.run("invoke", "ApiFunction", "-e", "events/api/health.json")
    answer = json.loads(ran.stdout)
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["status"] == "ok"
    assert "REPORT RequestId" in ran.stderr  # the function's log, as Lambda writes it

    # The sample events carry a token no deployment accepts; --user signs them for this stack.
    refused = json.loads(stack.cli.run("invoke", "api", "-e", "events/api/list-assets.json", "--no-build").stdout)
    assert refused["statusCode"] == 401
    listed = stack.cli.run("invoke", "api", "-e", "events/api/list-assets.json", "--user", "invoker", "--no-build")
    body = json.loads(json.loads(listed.stdout)["body"])
    assert json.loads(listed.stdout)["statusCode"] == 200 and body["items"] == []


def test_an_s3_notification_for_an_object_no_upload_declared_is_rejected_not_started(stack: Stack) -> None:
    ran = stack.cli.run("--json", "invoke", "ingest", "-e", "events/ingest/object-without-upload.json", "--no-build")
    invocation = json.loads(ran.stdout)
    assert invocation["function"] == "IngestFunction" and invocation["failed"] is False
    assert [outcome.get("rejected") is not None for outcome in invocation["result"]] == [True]


def test_a_state_returns_its_output_and_env_overrides_last_one_call(stack: Stack) -> None:
    plan = json.loads(stack.cli.run("invoke", "plan", "-e", "events/plan/job-with-media.json", "--no-build").stdout)
    # The sample's source is a messenger's Constrained Baseline H.264 at the top rung's size: kept as it is.
    assert plan["renditions"][0]["passthrough"]["video"] is True

    event = (EVENTS / "plan" / "job-with-media.json").read_text()
    switched = stack.cli.run(
        "invoke", "PlanFunction", "-e", "-", "--env", "PASSTHROUGH=off", "--no-build", input_text=event
    )
    top = json.loads(switched.stdout)["renditions"][0]["passthrough"]
    assert top["video"] is False and "off" in top["reason"]
    variables = stack.client("lambda").get_function_configuration(FunctionName=stack.function_name("PlanFunction"))
    assert variables["Environment"]["Variables"].get("PASSTHROUGH") != "off"  # put back after the call


def test_a_named_error_is_printed_and_the_exit_status_says_so(stack: Stack) -> None:
    ran = stack.cli.run("invoke", "probe", "-e", "events/probe/job.json", "--no-build", check=False)
    error = json.loads(ran.stdout)
    assert ran.returncode == 1 and error["errorType"] and error["errorMessage"]
    assert f"ProbeFunction raised {error['errorType']}" in " ".join(ran.stderr.split())
    unknown = stack.cli.run("invoke", "transcoder", "--no-build", check=False)
    assert unknown.returncode == 1 and "TranscodeFunction" in unknown.stderr and unknown.stdout == ""
