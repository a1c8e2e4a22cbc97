"""The upload API on moto: the handler driven by the sample events, the rules, the ledger."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jwt
import pytest

from reelstack.auth import DEV_ISSUER, issue_dev_token, owner_of
from reelstack.config import Limits, MiB
from reelstack.errors import Unauthorized
from reelstack.keys import SourceKey
from reelstack.models import AssetModel, UploadModel, iso
from reelstack.uploads import Uploads, plan_parts, safe_filename
from tests.unit.conftest import SAMPLE_EVENTS_SECRET, UPLOAD_BUCKET, load_event, load_handler

# -- pure rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("IMG_0042.MOV", "IMG_0042.MOV"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.mp4", "evil.mp4"),
        ("clip\x00\x07\x1b[31m.mp4", "clip[31m.mp4"),
        ("mov\u202eie.mp4", "movie.mp4"),  # right-to-left override removed
        ("caf\udcc3\udca9.mp4", "caf\ufffd\ufffd.mp4"),  # non-UTF-8 bytes as JSON surrogates
        ("   ", "untitled"),
        ("...", "untitled"),
        (".hidden.mp4", "hidden.mp4"),
    ],
)
def test_filenames_are_stored_as_safe_display_text(raw: str, stored: str) -> None:
    assert safe_filename(raw) == stored


def test_very_long_filenames_are_cut_keeping_the_extension() -> None:
    name = safe_filename("a" * 5000 + ".mp4")
    assert len(name) == 255
    assert name.endswith(".mp4")


@pytest.mark.parametrize(
    ("size", "part_size", "part_count"),
    [
        (1, 8 * MiB, 1),
        (8 * MiB, 8 * MiB, 1),
        (8 * MiB + 1, 8 * MiB, 2),
        (200 * MiB, 8 * MiB, 25),
        (100 * 1024 * MiB, 11 * MiB, 9310),  # 100 GiB: parts grow so that S3's 10,000 are enough
    ],
)
def test_part_plan(size: int, part_size: int, part_count: int) -> None:
    assert plan_parts(size, Limits()) == (part_size, part_count)
    assert part_count <= 10_000
    assert part_size >= 5 * MiB


@pytest.mark.parametrize("owner", ["alice", "auth0|5f7c8ec7", "Zoë Ünïcode", "../../x", "a/b"])
def test_source_keys_name_owner_and_ids_only_and_parse_back(owner: str) -> None:
    key = SourceKey(owner, "01kbbbbbbbbbbbbbbbbbbbbbbb", "01kaaaaaaaaaaaaaaaaaaaaaaa")
    text = str(key)
    assert text.count("/") == 3
    assert ".." not in text.split("/")
    assert SourceKey.parse(text) == key


def test_dev_tokens_verify_and_bad_ones_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_DEV_SECRET", "s" * 32)
    assert owner_of(f"Bearer {issue_dev_token('s' * 32, 'bob')}") == "bob"
    cases = {
        "MissingToken": None,
        "InvalidToken": f"Bearer {issue_dev_token('x' * 32, 'bob')}",  # another secret
        "TokenExpired": "Bearer "
        + jwt.encode({"sub": "bob", "iss": DEV_ISSUER, "exp": int(time.time()) - 3600}, "s" * 32, algorithm="HS256"),
    }
    for code, header in cases.items():
        with pytest.raises(Unauthorized) as refused:
            owner_of(header)
        assert refused.value.code == code
    monkeypatch.delenv("JWT_DEV_SECRET")
    with pytest.raises(Unauthorized) as refused:
        owner_of(f"Bearer {issue_dev_token('s' * 32, 'bob')}")
    assert refused.value.code == "AuthNotConfigured"


# -- the handler with the sample events ------------------------------------------------------------


def call(name: str, *, user: str | None = None, body: Any = ..., auth: str | None = ..., **ids: str) -> tuple[int, Any]:
    """Invoke the API handler with events/api/<name>.json, optionally as another user or body."""
    event = load_event(f"api/{name}.json", **ids)
    if user is not None:
        auth = f"Bearer {issue_dev_token(SAMPLE_EVENTS_SECRET, user)}"
    if auth is not ...:
        event["headers"].pop("Authorization")
        if auth is not None:
            event["headers"]["Authorization"] = auth
    if body is not ...:
        event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    response = load_handler("api")(event, None)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def put_parts(created: dict[str, Any], sizes: list[int] | None = None) -> list[dict[str, Any]]:
    """What a client does with the URLs, done with boto3 on moto (which does not serve URLs)."""
    s3 = boto3.client("s3")
    upload = UploadModel.get(created["uploadId"])
    parts = []
    sizes = sizes or [part["size"] for part in created["parts"]]
    for number, size in enumerate(sizes, start=1):
        answer = s3.upload_part(
            Bucket=UPLOAD_BUCKET, Key=upload.key, UploadId=upload.s3_upload_id, PartNumber=number, Body=b"v" * size
        )
        parts.append({"partNumber": number, "etag": answer["ETag"]})
    return parts


@pytest.fixture
def created(aws: None) -> dict[str, Any]:
    status, body = call("create-upload")
    assert status == 201, body
    return body


def test_create_plans_parts_and_records_the_upload_and_asset(created: dict[str, Any]) -> None:
    assert created["partSize"] == 8 * MiB
    assert created["partCount"] == 3
    assert [part["size"] for part in created["parts"]] == [8 * MiB, 8 * MiB, 4 * MiB]
    assert all("X-Amz-Signature=" in part["url"] for part in created["parts"])
    assert "content-length" in created["parts"][0]["url"].lower()  # the part's length is signed in
    upload = UploadModel.get(created["uploadId"])
    assert upload.owner_id == "alice"
    assert upload.status == "uploading"
    assert "IMG_0042" not in upload.key
    asset = AssetModel.get(created["assetId"])
    assert (asset.status, asset.title, asset.source.filename) == ("uploading", "Beach at dusk", "IMG_0042.MOV")


def test_upload_status_lists_what_s3_holds(created: dict[str, Any]) -> None:
    put_parts(created, sizes=[8 * MiB])
    status, body = call("get-upload", upload_id=created["uploadId"])
    assert status == 200
    assert body["status"] == "uploading"
    assert [(part["partNumber"], part["size"]) for part in body["uploadedParts"]] == [(1, 8 * MiB)]
    assert body["bytesUploaded"] == 8 * MiB


def test_parts_gives_fresh_urls_for_the_asked_parts(created: dict[str, Any]) -> None:
    status, body = call("request-parts", upload_id=created["uploadId"])
    assert status == 200
    assert [part["partNumber"] for part in body["parts"]] == [2, 3]
    status, body = call("request-parts", upload_id=created["uploadId"], body={"partNumbers": [4]})
    assert (status, body["error"]["code"]) == (400, "InvalidPartNumber")


def test_complete_assembles_the_object_once_and_answers_a_retry_the_same(created: dict[str, Any]) -> None:
    parts = put_parts(created)
    status, body = call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})
    assert (status, body["status"], body["assetId"]) == (200, "uploaded", created["assetId"])
    key = UploadModel.get(created["uploadId"]).key
    assert boto3.client("s3").head_object(Bucket=UPLOAD_BUCKET, Key=key)["ContentLength"] == 20 * MiB
    assert UploadModel.get(created["uploadId"]).status == "completed"
    # The phone lost the answer and asks again: same answer, nothing new.
    assert call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})[0] == 200
    # The finished upload cannot be used again.
    for name in ("request-parts", "abort-upload"):
        status, body = call(name, upload_id=created["uploadId"])
        assert (status, body["error"]["code"]) == (409, "UploadCompleted")
    status, body = call("complete-upload", upload_id=created["uploadId"], body={"parts": parts[:2]})
    assert (status, body["error"]["code"]) == (409, "UploadCompleted")


def test_a_complete_racing_another_returns_at_once_and_s3_assembles_once(
    created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone times out and retries while the first complete is still assembling: the retry answers
    with the asset as it stands, without a second CompleteMultipartUpload (one object version)."""
    from reelstack import uploads as uploads_module

    monkeypatch.setattr(uploads_module, "REPEAT_WAIT_SECONDS", 0.5)
    parts = put_parts(created)
    first_is_assembling, second_answered = threading.Event(), threading.Event()
    assemble = uploads_module.Uploads._assemble
    calls: list[str] = []

    def slow_assemble(self: Any, *args: Any) -> Any:
        calls.append("assemble")
        first_is_assembling.set()
        assert second_answered.wait(10)
        return assemble(self, *args)

    monkeypatch.setattr(uploads_module.Uploads, "_assemble", slow_assemble)
    answers: list[tuple[int, Any]] = []
    first = threading.Thread(
        target=lambda: answers.append(call("complete-upload", upload_id=created["uploadId"], body={"parts": parts}))
    )
    first.start()
    assert first_is_assembling.wait(10)
    assert call("get-upload", upload_id=created["uploadId"])[1]["status"] == "uploading"  # completing is internal
    status, second = call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})
    assert (status, second["assetId"], second["status"]) == (200, created["assetId"], "uploading")
    status, body = call("abort-upload", upload_id=created["uploadId"])
    assert (status, body["error"]["code"]) == (409, "UploadCompleting")
    second_answered.set()
    first.join(10)
    assert answers[0][0] == 200 and answers[0][1]["status"] == "uploaded"
    assert calls == ["assemble"]
    key = UploadModel.get(created["uploadId"]).key
    versions = boto3.client("s3").list_object_versions(Bucket=UPLOAD_BUCKET, Prefix=key).get("Versions", [])
    assert len(versions) == 1
    assert call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})[1]["status"] == "uploaded"


@pytest.mark.parametrize("s3_finished", [False, True])
def test_a_complete_that_died_holding_the_upload_is_taken_over_after_its_lease(
    created: dict[str, Any], s3_finished: bool
) -> None:
    """The first complete crashed (before, or after, S3 assembled the object): once its lease has
    expired, the phone's retry finishes the job."""
    parts = put_parts(created)
    upload = UploadModel.get(created["uploadId"])
    if s3_finished:
        boto3.client("s3").complete_multipart_upload(
            Bucket=UPLOAD_BUCKET, Key=upload.key, UploadId=upload.s3_upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p["partNumber"], "ETag": p["etag"]} for p in parts]},
        )  # fmt: skip
    recorded = [
        {"partNumber": p["partNumber"], "size": planned["size"], "etag": p["etag"].strip('"')}
        for p, planned in zip(parts, created["parts"], strict=True)
    ]
    live = iso(datetime.now(UTC) + timedelta(seconds=30))
    upload.update(actions=[UploadModel.status.set("completing"), UploadModel.lease_until.set(live),
                           UploadModel.completed_parts.set(recorded)])  # fmt: skip
    status, body = call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})
    assert (status, body["status"]) == (200, "uploading")  # the lease is live: someone is on it
    upload.update(actions=[UploadModel.lease_until.set(iso(datetime(2000, 1, 1, tzinfo=UTC)))])
    status, body = call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})
    assert (status, body["status"]) == (200, "uploaded"), body
    assert UploadModel.get(created["uploadId"]).status == "completed"
    versions = boto3.client("s3").list_object_versions(Bucket=UPLOAD_BUCKET, Prefix=upload.key)["Versions"]
    assert len(versions) == 1


@pytest.mark.parametrize(
    ("sizes", "change", "code"),
    [
        ([8 * MiB, 8 * MiB, 4 * MiB], lambda parts: parts[:2], "MissingParts"),
        ([8 * MiB, 8 * MiB], lambda parts: [*parts, {"partNumber": 3, "etag": "abc"}], "MissingParts"),
        ([8 * MiB, 8 * MiB, 4 * MiB], lambda parts: [parts[0], parts[1], {**parts[2], "etag": '"0"'}], "PartMismatch"),
        ([8 * MiB, 8 * MiB, 4 * MiB], lambda parts: [parts[0], parts[0], parts[2]], "DuplicatePart"),
        # Parts that bypass the signed URLs (the API never hands out such URLs).
        ([1 * MiB, 8 * MiB, 4 * MiB], lambda parts: parts, "PartTooSmall"),
        ([6 * MiB, 8 * MiB, 4 * MiB], lambda parts: parts, "PartSizeMismatch"),
        ([8 * MiB, 8 * MiB, 5 * MiB], lambda parts: parts, "SizeMismatch"),
    ],
)
def test_complete_refuses_parts_that_do_not_match_and_stays_resumable(
    created: dict[str, Any], sizes: list[int], change: Any, code: str
) -> None:
    parts = change(put_parts(created, sizes))
    status, body = call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})
    assert (status, body["error"]["code"]) == (400, code), body
    assert body["error"]["message"]
    assert UploadModel.get(created["uploadId"]).status == "uploading"
    assert AssetModel.get(created["assetId"]).status == "uploading"


def test_abort_frees_the_parts_and_deletes_the_asset(created: dict[str, Any]) -> None:
    put_parts(created, sizes=[8 * MiB])
    assert call("abort-upload", upload_id=created["uploadId"]) == (204, None)
    assert boto3.client("s3").list_multipart_uploads(Bucket=UPLOAD_BUCKET).get("Uploads", []) == []
    assert call("abort-upload", upload_id=created["uploadId"]) == (204, None)  # DELETE is idempotent
    status, body = call("get-upload", upload_id=created["uploadId"])
    assert body["status"] == "aborted"
    status, body = call("get-asset", asset_id=created["assetId"])
    assert (status, body["error"]["code"]) == (404, "AssetNotFound")
    for name in ("request-parts", "complete-upload"):
        status, body = call(name, upload_id=created["uploadId"])
        assert (status, body["error"]["code"]) == (409, "UploadAborted")


def test_another_users_ids_are_not_found_everywhere(created: dict[str, Any]) -> None:
    for name in ("get-upload", "request-parts", "complete-upload", "abort-upload"):
        status, body = call(name, user="mallory", upload_id=created["uploadId"])
        assert (status, body["error"]["code"]) == (404, "UploadNotFound"), name
    status, body = call("get-asset", user="mallory", asset_id=created["assetId"])
    assert (status, body["error"]["code"]) == (404, "AssetNotFound")
    assert UploadModel.get(created["uploadId"]).status == "uploading"  # and nothing changed


@pytest.mark.parametrize("auth", [None, "Bearer", "Basic YWxpY2U6c2VjcmV0", "Bearer not.a.jwt"])
def test_requests_without_a_good_token_get_401(aws: None, auth: str | None) -> None:
    status, body = call("create-upload", auth=auth)
    assert status == 401
    assert body["error"]["code"] in ("MissingToken", "InvalidToken")


GOOD = {"filename": "a.mp4", "size": 1000, "contentType": "video/mp4"}


@pytest.mark.parametrize(
    ("declared", "recorded"),
    [
        ("video/mp2t", "video/mp2t"),  # MPEG-TS
        ("video/x-msvideo", "video/x-msvideo"),  # AVI
        ("audio/flac", "audio/flac"),
        ("video/webm;codecs=vp8,opus", "video/webm"),  # a browser's MediaRecorder
        ("Video/MP4", "video/mp4"),
        ("application/octet-stream", "application/octet-stream"),  # the app does not know
        ("video/x-some-future-codec", "video/x-some-future-codec"),
    ],
)
def test_any_video_or_audio_type_is_accepted_the_content_decides(aws: None, declared: str, recorded: str) -> None:
    status, answer = call("create-upload", body={**GOOD, "contentType": declared})
    assert status == 201, answer
    assert UploadModel.get(answer["uploadId"]).content_type == recorded


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**GOOD, "contentType": "application/pdf"}, 415, "UnsupportedMediaType"),
        ({**GOOD, "contentType": "image/png"}, 415, "UnsupportedMediaType"),
        ({**GOOD, "contentType": "text/html"}, 415, "UnsupportedMediaType"),
        ({**GOOD, "contentType": "video/"}, 415, "UnsupportedMediaType"),
        ({**GOOD, "contentType": "video/mp4\r\nX-Evil: 1"}, 415, "UnsupportedMediaType"),
        ({**GOOD, "size": 0}, 400, "EmptyUpload"),
        ({**GOOD, "size": 10 * 1024 * MiB + 1}, 413, "UploadTooLarge"),
        ({**GOOD, "size": "1000"}, 400, "InvalidField"),
        ({**GOOD, "size": 1.5}, 400, "InvalidField"),
        ({"filename": "a.mp4", "contentType": "video/mp4"}, 400, "MissingField"),
        ({"size": 1000, "contentType": "video/mp4"}, 400, "MissingField"),
        ({**GOOD, "sha256": "abc"}, 400, "InvalidField"),
        ({**GOOD, "tags": ["x" * 51]}, 400, "InvalidField"),
        ({**GOOD, "checksumAlgorithm": "MD5"}, 400, "InvalidField"),
        ("{not json", 400, "InvalidJson"),
        ("[1, 2]", 400, "InvalidJson"),
        ('"a string"', 400, "InvalidJson"),
        (None, 400, "InvalidJson"),
        ({**GOOD, "colour": "red"}, 400, "UnknownField"),  # a misspelt field is named, not ignored
        ("[" * 100_000 + "]" * 100_000, 400, "InvalidJson"),  # deeper than the parser can go
        ({**GOOD, "title": json.loads("[" * 20 + "]" * 20)}, 400, "InvalidJson"),  # deeper than any body needs
        (json.dumps({**GOOD, "description": "x" * (3 * MiB)}), 413, "BodyTooLarge"),
    ],
)
def test_create_refuses_bad_requests_clearly(aws: None, body: Any, status: int, code: str) -> None:
    answer_status, answer = call("create-upload", body=body)
    assert (answer_status, answer["error"]["code"]) == (status, code), answer
    assert answer["error"]["message"]
    assert list(UploadModel.scan()) == []  # nothing was recorded


def test_a_hostile_filename_is_metadata_only(aws: None) -> None:
    status, body = call("create-upload", body={**GOOD, "filename": "../../../etc/passwd\x00.mp4"})
    assert status == 201
    upload = UploadModel.get(body["uploadId"])
    assert "etc" not in upload.key
    assert "passwd" not in upload.key
    assert AssetModel.get(body["assetId"]).source.filename == "passwd.mp4"
    # A name that was not UTF-8 on the phone: JSON carries its bytes as lone surrogates.
    status, body = call("create-upload", body='{"filename": "caf\\udce9.mp4", "size": 10, "contentType": "video/mp4"}')
    assert status == 201
    assert AssetModel.get(body["assetId"]).source.filename == "caf\ufffd.mp4"


def test_expired_uploads_are_swept_by_the_scheduled_function(aws: None) -> None:
    eight_days_ago = time.time() - 8 * 86400
    stale = Uploads(clock=lambda: eight_days_ago).create("alice", json.dumps(GOOD))
    fresh = Uploads().create("alice", json.dumps(GOOD))
    answer = load_handler("upload_sweeper")(load_event("upload_sweeper/hourly.json"), None)
    assert answer == {"expired": [stale["uploadId"]], "settled": []}
    assert UploadModel.get(stale["uploadId"]).status == "expired"
    asset = AssetModel.get(stale["assetId"])
    assert (asset.status, asset.error.code) == ("failed", "UploadExpired")
    assert UploadModel.get(fresh["uploadId"]).status == "uploading"
    status, body = call("request-parts", upload_id=stale["uploadId"])
    assert (status, body["error"]["code"]) == (409, "UploadExpired")


def test_chalice_own_errors_use_the_contract_shape(aws: None) -> None:
    event = load_event("api/get-upload.json")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "PUT"
    response = load_handler("api")(event, None)
    assert response["statusCode"] == 405
    assert set(json.loads(response["body"])["error"]) == {"code", "message"}


# -- the library routes with their sample events ----------------------------------------------------


def test_list_update_delete_with_the_sample_events(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS_TOPIC_ARN", boto3.client("sns").create_topic(Name="unit")["TopicArn"])
    from reelstack import config

    config.deployment.cache_clear()
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


def test_playback_needs_a_ready_asset_and_a_valid_token(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYBACK_SECRET", "p" * 32)
    asset_id = call("create-upload")[1]["assetId"]
    status, body = call("start-playback", asset_id=asset_id)
    assert (status, body["error"]["code"]) == (404, "NotReady")
    AssetModel(asset_id).update(actions=[AssetModel.status.set("ready")])
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n720p/index.m3u8\n"
    media = '#EXTM3U\n#EXT-X-MAP:URI="init_0.mp4"\n#EXTINF:6.0,\nsegment_00000.m4s\n#EXT-X-ENDLIST\n'
    s3 = boto3.client("s3")
    s3.put_object(Bucket="unit-media-bucket", Key=f"assets/{asset_id}/hls/master.m3u8", Body=master.encode())
    s3.put_object(Bucket="unit-media-bucket", Key=f"assets/{asset_id}/hls/720p/index.m3u8", Body=media.encode())
    status, body = call("start-playback", asset_id=asset_id)
    assert status == 200
    token = body["hls"].split("/playback/")[1].split("/")[0]

    def playlist(name: str, **parameters: str) -> dict[str, Any]:
        event = load_event(f"api/{name}.json", **parameters)
        return load_handler("api")(event, None)

    answer = playlist("master-playlist", token=token)
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/vnd.apple.mpegurl"
    assert answer["body"] == master
    answer = playlist("media-playlist", token=token, rendition="720p")
    assert "segment_00000.m4s?" in answer["body"] and "X-Amz-Signature=" in answer["body"]
    assert 'URI="http' in answer["body"]
    assert playlist("media-playlist", token=token, rendition="..")["statusCode"] == 404
    assert playlist("master-playlist", token=token[:-2] + "xx")["statusCode"] == 403
    assert playlist("master-playlist", token="placeholder")["statusCode"] == 403


def test_health_with_its_sample_event(aws: None) -> None:
    answer = load_handler("api")(load_event("api/health.json"), None)
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert body["checks"]["assetsTable"]["status"] == "ok"
    assert body["checks"]["eventsTopic"]["status"] == "down"  # no topic in this moto account
    assert body["status"] == "degraded"


def test_a_client_past_its_rate_gets_429_with_retry_after(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from reelstack.errors import TooManyRequests
    from reelstack.throttle import admit

    monkeypatch.setenv("CLIENT_REQUESTS_PER_SECOND", "3")
    for _ in range(3):
        admit("alice", now=1000.2)
    with pytest.raises(TooManyRequests) as refused:
        admit("alice", now=1000.9)
    assert refused.value.retry_after_seconds == 1
    admit("bob", now=1000.9)  # per client
    admit("alice", now=1001.0)  # the next second
    handler, event = load_handler("api"), load_event("api/get-upload.json")
    time.sleep(1.02 - time.time() % 1)  # start of a second: the four calls below share its window
    statuses = [handler(event, None)["statusCode"] for _ in range(3)]
    answer = handler(event, None)
    assert statuses == [404, 404, 404]  # admitted (the sample's upload does not exist)
    assert answer["statusCode"] == 429
    assert answer["headers"]["Retry-After"] == "1"
    assert json.loads(answer["body"])["error"]["code"] == "TooManyRequests"


BODY_ROUTES = ["create-upload", "request-parts", "complete-upload", "update-asset", "register-device"]


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


def test_a_crafted_cursor_is_refused_not_a_crash(aws: None) -> None:
    for key in ("[" * 50_000 + "]" * 50_000, '{"ownerId": "alice"}', '"text"', "{" + '"a":{' * 30 + "}" * 31):
        cursor = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
        event = load_event("api/list-assets.json")
        event["queryStringParameters"] = {"cursor": cursor}
        event["multiValueQueryStringParameters"] = {"cursor": [cursor]}
        response = load_handler("api")(event, None)
        assert response["statusCode"] == 400, response
        assert json.loads(response["body"])["error"]["code"] == "InvalidCursor"
