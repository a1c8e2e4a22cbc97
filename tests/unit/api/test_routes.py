"""The Chalice app's own behaviour: the contract's error shape, bodies parsed at the route."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.conftest import call, load_event, load_handler


def test_chalice_own_errors_use_the_contract_shape(aws: None) -> None:
    event = load_event("api/get-upload.json")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "PUT"
    response = load_handler("api")(event, None)
    assert response["statusCode"] == 405
    assert set(json.loads(response["body"])["error"]) == {"code", "message"}


BODY_ROUTES = ["create-upload", "request-parts", "complete-upload", "update-asset", "register-device", "create-webhook"]


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_every_body_refuses_unknown_fields_and_deep_nesting_with_400(created: dict[str, Any], route: str) -> None:
    event = load_event(f"api/{route}.json")
    own = {"upload_id": created["uploadId"], "asset_id": created["assetId"]}
    ids = {name: own[name] for name in event["pathParameters"] or {}}
    good = json.loads(event["body"])
    status, answer = call(route, body={**good, "surprise": 1}, **ids)
    assert (status, answer["error"]["code"]) == (400, "UnknownField"), answer
    assert "surprise" in answer["error"]["message"]
    status, answer = call(route, body="{" + '"a":{' * 5000 + "}" * 5001, **ids)
    assert (status, answer["error"]["code"]) == (400, "InvalidJson"), answer
    status, answer = call(route, body=b"\xff\xfe{}".decode("latin-1"), **ids)
    assert status == 400, answer
