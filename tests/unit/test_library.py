"""The caller's library with the sample events: list, update, delete, cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import boto3

from reelstack.store.records import AssetModel, UploadModel
from tests.unit.conftest import call, load_event, load_handler


def test_list_update_delete_with_the_sample_events(aws: None, setenv: Callable[..., None]) -> None:
    setenv(EVENTS_TOPIC_ARN=boto3.client("sns").create_topic(Name="unit")["TopicArn"])
    made = [call("create-upload")[1]["assetId"] for _ in range(3)]
    status, page = call("list-assets")  # limit=2
    assert status == 200
    assert [item["assetId"] for item in page["items"]] == made[::-1][:2]
    event_query = {"limit": "2", "cursor": page["nextCursor"]}
    event = load_event("api/list-assets.json")
    event["queryStringParameters"] = event_query
    event["multiValueQueryStringParameters"] = {key: [value] for key, value in event_query.items()}
    rest = json.loads(load_handler("api")(event, None)["body"])
    assert [item["assetId"] for item in rest["items"]] == [made[0]]
    assert rest["nextCursor"] is None

    status, edited = call("update-asset", asset_id=made[0])
    assert (status, edited["title"], edited["tags"]) == (200, "Sunset, edited", ["beach", "2026"])
    status, body = call("update-asset", asset_id=made[0], body={"status": "ready"})
    assert (status, body["error"]["code"]) == (400, "UnknownField")

    assert call("delete-asset", asset_id=made[0]) == (204, None)
    assert call("delete-asset", asset_id=made[0]) == (204, None)  # a retried delete: idempotent for its owner
    assert call("delete-asset", asset_id=made[0], user="mallory")[0] == 404
    assert call("get-asset", asset_id=made[0])[0] == 404
    assert AssetModel.get(made[0]).status == "deleted"
    assert UploadModel.get(AssetModel.get(made[0]).upload_id).status == "aborted"


def test_a_crafted_cursor_is_refused_not_a_crash(aws: None) -> None:
    for key in ("[" * 50_000 + "]" * 50_000, '{"ownerId": "alice"}', '"text"', "{" + '"a":{' * 30 + "}" * 31):
        cursor = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
        event = load_event("api/list-assets.json")
        event["queryStringParameters"] = {"cursor": cursor}
        event["multiValueQueryStringParameters"] = {"cursor": [cursor]}
        response = load_handler("api")(event, None)
        assert response["statusCode"] == 400, response
        assert json.loads(response["body"])["error"]["code"] == "InvalidCursor"
