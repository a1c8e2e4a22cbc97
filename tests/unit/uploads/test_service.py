"""The upload service through the API handler and its sample events (moto): create, parts, complete, abort, expiry."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from reelstack.bodies import CreateUpload
from reelstack.config import MiB
from reelstack.store.records import AssetModel, UploadModel, iso
from reelstack.uploads.service import Uploads
from tests.unit.conftest import UPLOAD_BUCKET, call, load_event, load_handler, put_parts


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
    from reelstack.uploads import service as uploads_module
    from reelstack.uploads.multipart import Multipart

    monkeypatch.setattr(uploads_module, "REPEAT_WAIT_SECONDS", 0.5)
    parts = put_parts(created)
    first_is_assembling, second_answered = threading.Event(), threading.Event()
    assemble = Multipart.assemble
    calls: list[str] = []

    def slow_assemble(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("assemble")
        first_is_assembling.set()
        assert second_answered.wait(120)
        return assemble(self, *args, **kwargs)

    monkeypatch.setattr(Multipart, "assemble", slow_assemble)
    answers: list[tuple[int, Any]] = []
    first = threading.Thread(
        target=lambda: answers.append(call("complete-upload", upload_id=created["uploadId"], body={"parts": parts}))
    )
    first.start()
    assert first_is_assembling.wait(120)
    assert call("get-upload", upload_id=created["uploadId"])[1]["status"] == "uploading"  # completing is internal
    status, second = call("complete-upload", upload_id=created["uploadId"], body={"parts": parts})
    assert (status, second["assetId"], second["status"]) == (200, created["assetId"], "uploading")
    status, body = call("abort-upload", upload_id=created["uploadId"])
    assert (status, body["error"]["code"]) == (409, "UploadCompleting")
    second_answered.set()
    first.join(120)  # moto assembles the parts in memory: seconds on a busy machine, not a measure of us
    assert not first.is_alive(), "the first complete never answered"
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
    # The key is made of ids alone (a random id may spell "etc": compare the whole key, not a substring).
    assert upload.key == f"sources/{upload.owner_id}/{body['assetId']}/{body['uploadId']}"
    assert AssetModel.get(body["assetId"]).source.filename == "passwd.mp4"
    # A name that was not UTF-8 on the phone: JSON carries its bytes as lone surrogates.
    status, body = call("create-upload", body='{"filename": "caf\\udce9.mp4", "size": 10, "contentType": "video/mp4"}')
    assert status == 201
    assert AssetModel.get(body["assetId"]).source.filename == "caf\ufffd.mp4"


def test_expired_uploads_are_swept_by_the_scheduled_function(aws: None) -> None:
    eight_days_ago = time.time() - 8 * 86400
    stale = Uploads(clock=lambda: eight_days_ago).create("alice", CreateUpload.model_validate(GOOD))
    fresh = Uploads().create("alice", CreateUpload.model_validate(GOOD))
    answer = load_handler("upload_sweeper")(load_event("upload_sweeper/hourly.json"), None)
    assert answer == {"expired": [stale["uploadId"]], "settled": []}
    assert UploadModel.get(stale["uploadId"]).status == "expired"
    asset = AssetModel.get(stale["assetId"])
    assert (asset.status, asset.error.code) == ("failed", "UploadExpired")
    assert UploadModel.get(fresh["uploadId"]).status == "uploading"
    status, body = call("request-parts", upload_id=stale["uploadId"])
    assert (status, body["error"]["code"]) == (409, "UploadExpired")


def test_a_bad_body_for_someone_elses_or_a_finished_upload_is_still_404_or_409(created: dict[str, Any]) -> None:
    """The upload is looked up before the body is read: a wrong id never learns what the body lacks,
    and asking a finished upload for parts is 409 whatever the body."""
    for name in ("request-parts", "complete-upload"):
        status, body = call(name, user="mallory", body="{not json", upload_id=created["uploadId"])
        assert (status, body["error"]["code"]) == (404, "UploadNotFound"), name
    assert call("abort-upload", upload_id=created["uploadId"]) == (204, None)
    status, body = call("request-parts", body={"surprise": 1}, upload_id=created["uploadId"])
    assert (status, body["error"]["code"]) == (409, "UploadAborted")
