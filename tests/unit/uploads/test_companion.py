"""Stock clients on moto, through the API handler and its sample events: upload grants, Companion's
S3 routes (Uppy 6), one-request uploads (PUT, POST form) completed by their object's arrival, and the
part size a client chooses (Uppy 5)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelstack.api.playback import url_for
from reelstack.config import MiB
from reelstack.errors import Unauthorized
from reelstack.store.records import AssetModel, UploadModel
from reelstack.uploads import grants
from tests.unit.conftest import UPLOAD_BUCKET, call, load_event, load_handler
from tests.unit.pipeline.conftest import machine_arn, uploaded_clip


@pytest.fixture
def grant(aws: None, setenv: Callable[..., None]) -> str:
    setenv(PLAYBACK_SECRET="unit-playback-secret-of-at-least-32-bytes")
    status, body = call("create-upload-grant")
    assert status == 201, body
    assert body["companionEndpoint"].endswith(f"/companion/{body['grant']}")
    return body["grant"]


def companion(name: str, grant: str, query: dict[str, str] | None = None, body: Any = ..., **ids: str) -> Any:
    """Call a Companion route as Uppy does: the grant in the path, no Authorization header."""
    event = load_event(f"api/{name}.json", grant=grant, **ids)
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    if body is not ...:
        event["body"] = json.dumps(body)
    response = load_handler("api")(event, None)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def start(grant: str, filename: str = "IMG_0042.MOV", kind: str = "video/quicktime") -> dict[str, Any]:
    status, body = companion("companion-create", grant, body={"filename": filename, "type": kind,
                                                               "metadata": {"title": "Beach at dusk"}})  # fmt: skip
    assert status == 200, body
    return body


def put_companion_parts(grant: str, started: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]]:
    """Uppy's loop: ask for each part's URL, send the bytes (boto3 on moto stands in for the PUT)."""
    upload = UploadModel.get(started["uploadId"])
    parts = []
    for number, size in enumerate(sizes, start=1):
        status, signed = companion("companion-sign-part", grant, {"key": started["key"]},
                                   upload_id=started["uploadId"], part=str(number))  # fmt: skip
        assert status == 200 and f"partNumber={number}" in signed["url"]
        assert "content-length" not in signed["url"].lower()  # Uppy's chunk size is its own
        etag = boto3.client("s3").upload_part(
            Bucket=UPLOAD_BUCKET, Key=upload.key, UploadId=upload.s3_upload_id, PartNumber=number, Body=b"v" * size
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return parts


def test_uppy_6_uploads_through_the_companion_routes_into_the_same_ledger(grant: str) -> None:
    started = start(grant)
    assert started["key"] == UploadModel.get(started["uploadId"]).key  # the server's key, not the filename
    assert "IMG_0042" not in started["key"]
    parts = put_companion_parts(grant, started, [5 * MiB, 5 * MiB, 1234])
    # Resume: what S3 holds, in Companion's names; the same upload through the API's own route.
    status, listed = companion("companion-list-parts", grant, {"key": started["key"]}, upload_id=started["uploadId"])
    assert [(part["PartNumber"], part["Size"]) for part in listed] == [(1, 5 * MiB), (2, 5 * MiB), (3, 1234)]
    status, seen = call("get-upload", upload_id=started["uploadId"])
    assert (seen["status"], seen["size"], seen["bytesUploaded"]) == ("uploading", None, 10 * MiB + 1234)
    status, batch = companion("companion-sign-part", grant, {"key": started["key"], "partNumbers": "2,1"},
                              upload_id=started["uploadId"], part="batch")  # fmt: skip
    assert status == 200 and sorted(batch["presignedUrls"]) == ["1", "2"]

    status, done = companion("companion-complete", grant, {"key": started["key"]}, {"parts": parts},
                             upload_id=started["uploadId"], part="complete")  # fmt: skip
    assert status == 200, done
    assert done["key"] == started["key"] and done["location"].endswith(f"/assets/{started['assetId']}")
    upload = UploadModel.get(started["uploadId"])
    assert (upload.status, upload.size, upload.part_size, upload.part_count) == ("completed", 10 * MiB + 1234,
                                                                                 5 * MiB, 3)  # fmt: skip
    asset = AssetModel.get(started["assetId"])
    assert (asset.status, asset.title, asset.source.size) == ("uploaded", "Beach at dusk", 10 * MiB + 1234)
    status, listed = call("list-assets")
    assert started["assetId"] in [item["assetId"] for item in listed["items"]]


def test_companion_refuses_what_the_api_refuses(grant: str, setenv: Callable[..., None]) -> None:
    status, body = companion("companion-create", grant, body={"filename": "page.html", "type": "text/html"})
    assert (status, body["error"]["code"]) == (415, "UnsupportedMediaType")
    started = start(grant)
    # Someone else's upload, or a key the server did not choose, is not found.
    for key in (started["key"] + "x", "sources/bob/x/y"):
        status, body = companion("companion-list-parts", grant, {"key": key}, upload_id=started["uploadId"])
        assert (status, body["error"]["code"]) == (404, "UploadNotFound")
    status, bobs = call("create-upload-grant", user="bob")
    status, body = companion("companion-list-parts", bobs["grant"], {"key": started["key"]},
                             upload_id=started["uploadId"])  # fmt: skip
    assert (status, body["error"]["code"]) == (404, "UploadNotFound")
    # Parts past the deployment's limit: refused at complete, the parts freed, the asset failed.
    setenv(MAX_UPLOAD_BYTES=str(8 * MiB))
    big = start(grant)
    parts = put_companion_parts(grant, big, [5 * MiB, 5 * MiB])
    status, body = companion("companion-complete", grant, {"key": big["key"]}, {"parts": parts},
                             upload_id=big["uploadId"], part="complete")  # fmt: skip
    assert (status, body["error"]["code"]) == (413, "UploadTooLarge")
    assert UploadModel.get(big["uploadId"]).status == "aborted"
    assert AssetModel.get(big["assetId"]).error.code == "UploadTooLarge"
    still_open = boto3.client("s3").list_multipart_uploads(Bucket=UPLOAD_BUCKET).get("Uploads", [])
    assert big["key"] not in [upload["Key"] for upload in still_open]


def test_a_grant_is_not_a_token_and_a_token_is_not_a_grant(grant: str) -> None:
    asset = AssetModel("01kaaaaaaaaaaaaaaaaaaaaaaa", playback_version=0)
    playback_token = url_for(asset, "https://api")["hls"].split("/")[-2]
    for wrong in (playback_token, grant[:-2] + "xx"):
        status, body = companion("companion-create", wrong, body={"filename": "a.mp4", "type": "video/mp4"})
        assert (status, body["error"]["code"]) == (401, "InvalidGrant")
    # A grant past its hour starts nothing, but the uploads it started go on (Uppy keeps its endpoint).
    assert grants.owner_of(grant, starting=False) == "alice"
    with pytest.raises(Unauthorized, match="GrantExpired"):
        grants.owner_of(grant, starting=True, now=2**40)


def test_uppy_6_small_file_post_form_completes_on_arrival(
    grant: str, setenv: Callable[..., None], tmp_path: Path
) -> None:
    uploaded_clip(setenv, tmp_path)  # the topic and state machine ingest needs
    status, form = companion("companion-params", grant, {"filename": "clip.mp4", "type": "video/mp4",
                                                         "metadata[title]": "Tiny"})  # fmt: skip
    assert status == 200 and form["method"] == "POST"
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, 100 * MiB] in policy["conditions"]
    assert {"Content-Type": "video/mp4"} in policy["conditions"]
    upload = UploadModel.get(form["uploadId"])
    assert (upload.mode, upload.size, form["fields"]["key"]) == ("post", None, upload.key)
    data = b"\0\0\0\x18ftypmp42" + b"x" * 5000
    put = boto3.client("s3").put_object(Bucket=UPLOAD_BUCKET, Key=upload.key, Body=data, ContentType="video/mp4")
    outcome = load_handler("ingest")(object_created(upload.key, len(data), put), None)
    assert outcome[0]["started"] is True
    upload.refresh()
    assert (upload.status, upload.size, upload.version_id) == ("completed", len(data), put["VersionId"])
    assert AssetModel.get(upload.asset_id).source.size == len(data)
    # A second object for the same key (the form replayed) starts nothing.
    again = boto3.client("s3").put_object(Bucket=UPLOAD_BUCKET, Key=upload.key, Body=data)
    assert load_handler("ingest")(object_created(upload.key, len(data), again), None)[0]["rejected"] == (
        "UploadCompleted"
    )
    assert len(boto3.client("stepfunctions").list_executions(stateMachineArn=machine_arn())["executions"]) == 1


def object_created(key: str, size: int, put: dict[str, Any]) -> dict[str, Any]:
    event = load_event("ingest/object-created.json")
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = UPLOAD_BUCKET
    record["object"].update(key=key, size=size, versionId=put["VersionId"], eTag=put["ETag"].strip('"'))
    return event


def test_one_put_for_a_small_file_signs_length_type_and_sha256(aws: None) -> None:
    data = b"a small video"
    digest = hashlib.sha256(data).hexdigest()
    body = {"filename": "a.mp4", "size": len(data), "contentType": "video/mp4", "method": "PUT", "sha256": digest}
    status, created = call("create-upload", body=body)
    assert status == 201, created
    assert (created["method"], created["parts"], created["mode"]) == ("PUT", [], "put")
    assert created["headers"]["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    assert "content-length" in created["url"].lower() and created["headers"]["Content-Type"] == "video/mp4"
    status, body = call("complete-upload", upload_id=created["uploadId"], body={"parts": [{"partNumber": 1,
                                                                                          "etag": "x"}]})  # fmt: skip
    assert (status, body["error"]["code"]) == (409, "SingleRequest")
    too_big = {"filename": "a.mp4", "size": 100 * MiB + 1, "contentType": "video/mp4", "method": "PUT"}
    status, too_big = call("create-upload", body=too_big)
    assert (status, too_big["error"]["code"]) == (413, "TooLargeForOneRequest")
    status, _ = call("create-upload", body={"filename": "a.mp4", "size": 9, "contentType": "video/mp4",
                                              "method": "PUT", "partSize": 8 * MiB})  # fmt: skip
    assert status == 400


def test_a_client_may_choose_the_part_size_within_s3s_bounds(aws: None) -> None:
    declared = {"filename": "a.mp4", "size": 100 * MiB, "contentType": "video/mp4"}
    status, created = call("create-upload", body={**declared, "partSize": 6 * MiB})
    assert status == 201, created
    assert (created["partSize"], created["partCount"], created["parts"][-1]["size"]) == (6 * MiB, 17, 4 * MiB)
    assert created["key"].startswith("sources/alice/")
    for part_size in (4 * MiB, 5 * 1024 * MiB + 1):
        status, body = call("create-upload", body={**declared, "partSize": part_size})
        assert status == 400, body
    status, body = call("create-upload", body={**declared, "size": 60 * 1024 * MiB, "partSize": 5 * MiB})
    assert status in (400, 413)
