"""What a client gets for a route the API does not have, a method a path lacks, or an answer API Gateway
makes by itself: the contract's JSON error with the CORS headers, so that a browser's script can read it.
And the API function's resource policy, which grows with the template's events, stays under Lambda's limit."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from reelstack.api.auth import issue_dev_token
from reelstack_cli.settings import TEMPLATE
from reelstack_cli.template import load_template, resources_of_type
from tests.unit.conftest import SAMPLE_EVENTS_SECRET, _LambdaContext, load_event, load_handler, load_handler_module

TEMPLATE_DATA = load_template(TEMPLATE)
ORIGIN = "https://app.example.com"


def _answer(event: dict[str, Any], handler: Any = None) -> tuple[int, dict[str, str], Any]:
    response = (handler or load_handler("api"))(event, None)
    return response["statusCode"], response["headers"], json.loads(response["body"])


@pytest.fixture
def browser_origin(setenv: Any) -> None:
    setenv(ALLOWED_ORIGIN=ORIGIN)


@pytest.mark.usefixtures("aws", "browser_origin")
def test_an_unknown_route_is_a_json_404_that_a_browser_can_read() -> None:
    handler = load_handler("api")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        for token in (None, "Bearer not-a-jwt", f"Bearer {issue_dev_token(SAMPLE_EVENTS_SECRET, 'alice')}"):
            event = load_event("api/unknown-route.json")
            event["httpMethod"] = event["requestContext"]["httpMethod"] = method
            if token:
                event["headers"]["Authorization"] = token
            status, headers, body = _answer(event, handler)
            assert status == 404
            assert body["error"] == {
                "code": "RouteNotFound",
                "message": f"{method} /v1/assets is not a route of this API (its routes are in docs/openapi.json)",
            }
            assert headers["Access-Control-Allow-Origin"] == ORIGIN
            assert headers["Content-Type"] == "application/json"


@pytest.mark.usefixtures("aws", "browser_origin")
def test_a_method_the_path_lacks_is_405_naming_the_methods_it_takes() -> None:
    event = load_event("api/get-asset.json")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "PUT"
    status, headers, body = _answer(event)
    assert status == 405
    assert headers["Allow"] == "GET, PATCH, DELETE"
    assert body == {
        "error": {
            "code": "MethodNotAllowed",
            "message": "PUT is not a method of /assets/{asset_id}; it takes GET, PATCH, DELETE",
        }
    }
    assert headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.usefixtures("aws", "browser_origin")
def test_an_uncaught_error_is_a_json_500_with_cors_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_handler_module("api")
    monkeypatch.setattr(module, "health", lambda: 1 / 0)
    response = module.handler(load_event("api/health.json"), _LambdaContext())
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"]["code"] == "InternalError"
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN


GATEWAY_RESPONSES = TEMPLATE_DATA["Resources"]["Api"]["Properties"]["GatewayResponses"]


def test_api_gateways_own_answers_on_aws_are_json_errors_with_the_cors_header() -> None:
    # The answers the brief of issue 25 names, at least: unknown routes, throttling, too large a body,
    # the function failing or timing out, anything else.
    assert {
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
        "REQUEST_TOO_LARGE",
        "INTEGRATION_FAILURE",
        "INTEGRATION_TIMEOUT",
        "UNAUTHORIZED",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    } <= set(GATEWAY_RESPONSES)
    for kind, response in GATEWAY_RESPONSES.items():
        origin = response["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"]
        assert origin == {"Fn::Sub": "'${AllowedOrigin}'"}, kind
        # API Gateway puts the message in as a JSON string (messageString is quoted and escaped).
        rendered = response["ResponseTemplates"]["application/json"].replace(
            "$context.error.messageString", json.dumps('He said "no"')
        )
        error = json.loads(rendered)["error"]
        assert set(error) == {"code", "message"}, kind
        assert re.fullmatch(r"[A-Z][A-Za-z]+", error["code"]), kind


# Lambda refuses a function's resource policy over 20 KB. SAM writes one AWS::Lambda::Permission per Api
# event (one statement each) and cannot be told to write a single one for the whole API, so the events
# are one per path (method ANY) rather than one per route, and this estimate fails before the policy
# could reach the limit. It writes each statement as Lambda stores it with the longest names AWS gives:
# a 100-character statement id, a 64-character function name, the longest partition and region.
POLICY_LIMIT_BYTES = 20 * 1024
PARTITION, REGION, ACCOUNT, API_ID = "aws-iso-b", "ap-southeast-2", "123456789012", "a1b2c3d4e5"


def _statement(path: str) -> dict[str, Any]:
    source = re.sub(r"\{[^}]+\}", "*", path)  # as SAM writes the SourceArn: any stage, any method
    return {
        "Sid": "s" * 100,
        "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{'f' * 64}",
        "Condition": {
            "ArnLike": {"AWS:SourceArn": f"arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT}:{API_ID}/*/*{source}"}
        },
    }


def _policy_bytes(paths: list[str]) -> int:
    policy = {"Version": "2012-10-17", "Id": "default", "Statement": [_statement(path) for path in paths]}
    return len(json.dumps(policy, separators=(",", ":")))


def test_the_api_functions_resource_policy_stays_under_lambdas_limit() -> None:
    functions = resources_of_type(TEMPLATE_DATA, "AWS::Serverless::Function")
    paths = [event["Properties"]["Path"] for event in functions["ApiFunction"]["Properties"]["Events"].values()]
    size = _policy_bytes(paths)
    assert size < POLICY_LIMIT_BYTES, (
        f"{len(paths)} Api events make a resource policy of about {size} bytes, over Lambda's 20 KB: give the "
        "API one AWS::Lambda::Permission (SourceArn .../<api id>/*) and the routes an OpenAPI DefinitionBody"
    )


def test_the_policy_estimate_fails_well_before_the_routes_could_double() -> None:
    # The estimate is not so loose that it could never fail: about 45 paths reach the limit.
    assert _policy_bytes(["/assets/{asset_id}/downloads"] * 45) > POLICY_LIMIT_BYTES
    assert _policy_bytes(["/assets/{asset_id}/downloads"] * 40) < POLICY_LIMIT_BYTES
