"""Uploads on the local cloud: real bytes through real presigned URLs, the CLI as an app would use it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3

from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.media import generate_clip
from reelstack_cli.settings import CHECKOUT
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset
from tests.integration.conftest import Stack

pytestmark = pytest.mark.localcloud
MiB = 1024 * 1024
http = urllib3.PoolManager(retries=False)
# What complete answers: uploaded, or later when the pipeline was quicker than the answer (random bytes
# become failed/NotMedia there).
UPLOADED = {"uploaded", "processing", "ready", "failed"}


def make_file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_object(stack: Stack, asset: dict[str, Any]) -> bytes:
    """The bytes in the upload bucket (tests may look; the CLI never does)."""
    s3 = stack.client("s3")
    listing = s3.list_objects_v2(Bucket=stack.outputs["uploadBucket"], Prefix="sources/")
    keys = [item["Key"] for item in listing.get("Contents", []) if f"/{asset['assetId']}/" in item["Key"]]
    assert len(keys) == 1, keys
    return s3.get_object(Bucket=stack.outputs["uploadBucket"], Key=keys[0])["Body"].read()


def upload_cli(stack: Stack, state_dir: Path, *args: str) -> dict[str, Any]:
    return stack.cli.json("upload", *args, env={"REELSTACK_STATE_DIR": str(state_dir)})


def put(url: dict[str, Any], data: bytes, headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
    return http.request("PUT", url["url"], body=data, headers={**url.get("headers", {}), **(headers or {})})


def declare(api: ApiClient, size: int, **extra: Any) -> dict[str, Any]:
    return api.post("/uploads", {"filename": "clip.mp4", "size": size, "contentType": "video/mp4", **extra})


def refused(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as error:
        call(*args)
    return error.value


# -- the CLI uploader ----------------------------------------------------------------------------


def test_a_small_file_goes_up_in_one_part_with_exactly_its_bytes(
    stack: Stack, alice: ApiClient, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "small clip.mp4", 3 * MiB + 7)
    result = upload_cli(stack, tmp_path / "state", str(path), "--user", "alice", "--title", "Small")
    assert result["status"] in UPLOADED  # the pipeline may have started on it already
    assert (result["partCount"], result["partsSent"]) == (1, 1)
    assert sha256_of(stored_object(stack, result)) == sha256_of(path.read_bytes())
    asset = alice.get(f"/assets/{result['assetId']}")
    assert asset["status"] in UPLOADED
    assert asset["title"] == "Small"
    assert asset["source"] == {
        "filename": "small clip.mp4",
        "size": 3 * MiB + 7,
        "contentType": "video/mp4",
        "sha256": sha256_of(path.read_bytes()),
    }
    assert not (tmp_path / "state").exists() or list((tmp_path / "state").iterdir()) == []  # nothing to resume


def test_a_multi_part_file_goes_up_in_parallel(stack: Stack, tmp_path: Path) -> None:
    path = make_file(tmp_path, "long.mov", 37 * MiB + 123)
    result = upload_cli(stack, tmp_path / "state", str(path), "--user", "alice", "--parallel", "4")
    assert (result["partCount"], result["partsSent"], result["partSize"]) == (5, 5, 8 * MiB)
    assert sha256_of(stored_object(stack, result)) == sha256_of(path.read_bytes())
    open_uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.outputs["uploadBucket"]).get("Uploads", [])
    assert not [item for item in open_uploads if result["assetId"] in item["Key"]]


def test_a_killed_upload_resumes_from_the_ledger(stack: Stack, alice: ApiClient, tmp_path: Path) -> None:
    path = make_file(tmp_path, "resume.mp4", 4 * 8 * MiB + 5)
    state_dir = tmp_path / "state"
    command = [sys.executable, "-m", "reelstack_cli.main", "upload", str(path), "--user", "alice"]
    process = subprocess.Popen(
        # Paced so that the whole file takes about 17 s: the ledger's answers below may wait seconds
        # for a cold API function on a busy machine, and the kill must still come mid-upload.
        [*command, "--parallel", "1", "--max-rate", "2M"],
        env={**stack.cli.env, "REELSTACK_STATE_DIR": str(state_dir)},
        cwd=CHECKOUT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "killed-upload.log").open("w"),
    )
    try:
        upload_id = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = list(state_dir.glob("*.json"))
            if states:
                upload_id = json.loads(states[0].read_text())["upload_id"]
                if alice.get(f"/uploads/{upload_id}")["uploadedParts"]:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"the upload never got a part into S3: {(tmp_path / 'killed-upload.log').read_text()}")
    finally:
        process.send_signal(signal.SIGKILL)  # the phone's app is killed mid-upload
        process.wait()
    before = alice.get(f"/uploads/{upload_id}")
    assert before["status"] == "uploading"
    assert 1 <= len(before["uploadedParts"]) < 5

    result = upload_cli(stack, state_dir, str(path), "--user", "alice", "--resume")
    assert result["uploadId"] == upload_id
    assert result["partsResumed"] == len(before["uploadedParts"])
    assert result["partsSent"] == 5 - result["partsResumed"]
    assert sha256_of(stored_object(stack, result)) == sha256_of(path.read_bytes())
    assert alice.get(f"/uploads/{upload_id}")["status"] == "completed"
    error = stack.cli.run(
        "upload", str(path), "--user", "alice", "--resume", check=False, env={"REELSTACK_STATE_DIR": str(state_dir)}
    )
    assert error.returncode == 1
    assert "no unfinished upload" in error.stderr


@pytest.fixture
def short_url_lifetime(stack: Stack) -> Iterator[int]:
    """The API function with 2-second part URLs (the PartUrlSeconds parameter), restored afterwards."""
    with stack.function_environment("ApiFunction") as configure:
        configure({"PART_URL_SECONDS": "2"})
        yield 2


def test_expired_urls_are_refused_and_renewed(
    short_url_lifetime: int, stack: Stack, alice: ApiClient, tmp_path: Path
) -> None:
    created = declare(alice, 9 * MiB)
    time.sleep(short_url_lifetime + 1.5)
    data = os.urandom(8 * MiB)
    expired = put(created["parts"][0], data)
    assert expired.status == 403
    assert b"Request has expired" in expired.data
    tampered = {"url": created["parts"][0]["url"].replace("partNumber=1", "partNumber=2")}
    assert put(tampered, data).status == 403
    fresh = alice.post(f"/uploads/{created['uploadId']}/parts", {"partNumbers": [1]})["parts"][0]
    assert put(fresh, data).status == 200

    # The CLI's uploader, on a phone whose clock is an hour behind and that was suspended after
    # creating the upload: it trusts S3's 403 over its own clock and renews the URLs.
    path = make_file(tmp_path, "renew.mp4", 2 * 8 * MiB + 1)
    events: list[str] = []

    def on_event(message: str) -> None:
        events.append(message)
        if message.startswith("upload ") and "parts" in message:
            time.sleep(short_url_lifetime + 1.5)

    uploader = Uploader(
        alice,
        "alice",
        parallel=1,
        checksums=False,
        state=StateStore(tmp_path / "state"),
        on_event=on_event,
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    result = uploader.upload(path)
    assert result["status"] in UPLOADED
    assert any("Request has expired" in message and "renewing" in message for message in events), events
    assert sha256_of(stored_object(stack, result)) == sha256_of(path.read_bytes())


# -- the API directly, as an app would call it ---------------------------------------------------


def test_checksummed_parts_reject_corrupted_bytes(stack: Stack, alice: ApiClient) -> None:
    data = os.urandom(8 * MiB + 1000)
    parts_data = [data[: 8 * MiB], data[8 * MiB :]]
    created = declare(alice, len(data), sha256=sha256_of(data), checksumAlgorithm="SHA256")
    assert created["parts"] == []  # URLs come per checksum
    error = refused(alice.post, f"/uploads/{created['uploadId']}/parts", {"partNumbers": [1, 2]})
    assert (error.status, error.code) == (400, "ChecksumRequired")
    checksums = [base64.b64encode(hashlib.sha256(part).digest()).decode() for part in parts_data]
    urls = alice.post(
        f"/uploads/{created['uploadId']}/parts",
        {"parts": [{"partNumber": n, "checksumSHA256": checksums[n - 1]} for n in (1, 2)]},
    )["parts"]
    corrupted = bytearray(parts_data[0])
    corrupted[12345] ^= 0xFF
    answer = put(urls[0], bytes(corrupted))
    assert (answer.status, b"BadDigest" in answer.data) == (400, True)
    assert put({"url": urls[0]["url"]}, parts_data[0]).status == 403  # without the signed checksum header
    etags = [put(url, part).headers["ETag"] for url, part in zip(urls, parts_data, strict=True)]
    done = alice.post(
        f"/uploads/{created['uploadId']}/complete",
        {"parts": [{"partNumber": n, "etag": etag} for n, etag in enumerate(etags, start=1)]},
    )
    assert done["status"] in UPLOADED
    assert sha256_of(stored_object(stack, done)) == sha256_of(data)


def test_part_urls_only_take_the_planned_length(alice: ApiClient) -> None:
    created = declare(alice, 8 * MiB + 10)
    first = created["parts"][0]
    assert put(first, os.urandom(1 * MiB)).status == 403  # a short part that is not the last
    assert put(first, os.urandom(8 * MiB + 10)).status == 403  # more than declared
    error = refused(alice.post, f"/uploads/{created['uploadId']}/complete", {"parts": [{"partNumber": 1, "etag": "x"}]})
    assert (error.status, error.code) == (400, "MissingParts")


def test_wrong_etags_are_refused_and_the_upload_stays_resumable(stack: Stack, alice: ApiClient) -> None:
    data = os.urandom(5 * MiB)
    created = declare(alice, len(data))
    etag = put(created["parts"][0], data).headers["ETag"]
    error = refused(
        alice.post, f"/uploads/{created['uploadId']}/complete", {"parts": [{"partNumber": 1, "etag": '"deadbeef"'}]}
    )
    assert (error.status, error.code) == (400, "PartMismatch")
    status = alice.get(f"/uploads/{created['uploadId']}")
    assert status["status"] == "uploading"
    assert status["bytesUploaded"] == len(data)
    done = alice.post(f"/uploads/{created['uploadId']}/complete", {"parts": [{"partNumber": 1, "etag": etag}]})
    assert done["status"] in UPLOADED
    assert stored_object(stack, done) == data


def test_abort_frees_the_parts_and_ends_the_upload(stack: Stack, alice: ApiClient) -> None:
    created = declare(alice, 9 * MiB)
    assert put(created["parts"][0], os.urandom(8 * MiB)).status == 200
    assert alice.delete(f"/uploads/{created['uploadId']}") is None
    open_uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.outputs["uploadBucket"]).get("Uploads", [])
    assert not [item for item in open_uploads if created["assetId"] in item["Key"]]
    assert alice.get(f"/uploads/{created['uploadId']}")["status"] == "aborted"
    assert refused(alice.get, f"/assets/{created['assetId']}").status == 404
    error = refused(alice.post, f"/uploads/{created['uploadId']}/parts", {"partNumbers": [2]})
    assert (error.status, error.code) == (409, "UploadAborted")
    assert put(created["parts"][1], os.urandom(MiB)).status in (403, 404)  # S3 no longer takes parts


GOOD = {"filename": "a.mp4", "size": 1000, "contentType": "video/mp4"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**GOOD, "contentType": "text/html"}, 415, "UnsupportedMediaType"),
        ({**GOOD, "size": 0}, 400, "EmptyUpload"),
        ({**GOOD, "size": 11 * 1024**3}, 413, "UploadTooLarge"),
        ({"filename": "a.mp4", "size": 1000}, 400, "MissingField"),
        ({**GOOD, "size": "big"}, 400, "InvalidField"),
    ],
)
def test_bad_declarations_get_clear_errors(alice: ApiClient, body: dict[str, Any], status: int, code: str) -> None:
    error = refused(alice.post, "/uploads", body)
    assert (error.status, error.code) == (status, code)
    assert error.message


def test_malformed_json_and_tokens_are_refused(stack: Stack, alice: ApiClient) -> None:
    url = stack.outputs["apiUrl"] + "/uploads"
    headers = {"Authorization": f"Bearer {alice.token}", "Content-Type": "application/json"}
    answer = http.request("POST", url, body=b"{nope", headers=headers)
    assert (answer.status, json.loads(answer.data)["error"]["code"]) == (400, "InvalidJson")
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({**GOOD, "title": [[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}).encode(),
    ):
        answer = http.request("POST", url, body=body, headers=headers)  # nested deeper than any body needs
        assert (answer.status, json.loads(answer.data)["error"]["code"]) == (400, "InvalidJson")
    answer = http.request("POST", url, body=json.dumps({**GOOD, "colour": "red"}).encode(), headers=headers)
    assert (answer.status, json.loads(answer.data)["error"]["code"]) == (400, "UnknownField")
    for auth in ({}, {"Authorization": "Bearer x.y.z"}, {"Authorization": f"Bearer {alice.token[:-3]}abc"}):
        answer = http.request("POST", url, body=json.dumps(GOOD).encode(), headers=auth)
        assert answer.status == 401
        assert json.loads(answer.data)["error"]["code"] in ("MissingToken", "InvalidToken")


def test_someone_elses_upload_and_asset_are_not_found(alice: ApiClient, mallory: ApiClient) -> None:
    created = declare(alice, 1000)
    upload = f"/uploads/{created['uploadId']}"
    for call, args in (
        (mallory.get, (upload,)),
        (mallory.post, (upload + "/parts", {"partNumbers": [1]})),
        (mallory.post, (upload + "/complete", {"parts": [{"partNumber": 1, "etag": "x"}]})),
        (mallory.delete, (upload,)),
        (mallory.get, (f"/assets/{created['assetId']}",)),
    ):
        error = refused(call, *args)
        assert error.status == 404, args
    assert alice.get(upload)["status"] == "uploading"


def test_hostile_filenames_are_stored_safely_as_metadata(stack: Stack, alice: ApiClient) -> None:
    hostile = "../../../etc/passwd\x00\x1b[2J" + "\udcff" + "é" * 300 + ".mp4"
    created = declare(alice, 1000, filename=hostile)
    asset = alice.get(f"/assets/{created['assetId']}")
    filename = asset["source"]["filename"]
    assert filename.startswith("passwd")
    assert filename.endswith(".mp4")
    assert len(filename) <= 255
    assert not any(ord(char) < 32 for char in filename)
    uploads_table = stack.client("dynamodb").get_item(
        TableName=stack.outputs["uploadsTableName"], Key={"uploadId": {"S": created["uploadId"]}}
    )["Item"]
    assert uploads_table["key"]["S"].startswith("sources/alice/")
    assert "passwd" not in uploads_table["key"]["S"]


def test_expired_uploads_are_swept(stack: Stack, alice: ApiClient) -> None:
    created = declare(alice, 9 * MiB)
    assert put(created["parts"][0], os.urandom(8 * MiB)).status == 200
    stack.client("dynamodb").update_item(  # as if the week had passed
        TableName=stack.outputs["uploadsTableName"],
        Key={"uploadId": {"S": created["uploadId"]}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00.000Z"}},
    )
    name = stack.function_name("UploadSweeperFunction")
    answer = stack.client("lambda").invoke(
        FunctionName=name, Payload=(CHECKOUT / "events" / "upload_sweeper" / "hourly.json").read_bytes()
    )
    assert created["uploadId"] in json.loads(answer["Payload"].read())["expired"]
    assert alice.get(f"/uploads/{created['uploadId']}")["status"] == "expired"
    asset = alice.get(f"/assets/{created['assetId']}")
    assert (asset["status"], asset["error"]["code"]) == ("failed", "UploadExpired")
    open_uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.outputs["uploadBucket"]).get("Uploads", [])
    assert not [item for item in open_uploads if created["assetId"] in item["Key"]]


def test_browsers_may_call_the_api_and_put_parts(stack: Stack, alice: ApiClient) -> None:
    origin = {"Origin": "http://localhost:8000"}
    preflight = http.request(
        "OPTIONS",
        stack.outputs["apiUrl"] + "/uploads",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status == 200
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    answer = http.request("GET", stack.outputs["apiUrl"] + "/uploads/nope", headers={**origin, "Authorization": "x"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    created = declare(alice, 1000)
    bucket_preflight = http.request(
        "OPTIONS", created["parts"][0]["url"], headers={**origin, "Access-Control-Request-Method": "PUT"}
    )
    assert bucket_preflight.status == 200
    assert "ETag" in bucket_preflight.headers["Access-Control-Expose-Headers"]


def test_the_demo_uploads_a_generated_clip_and_ends_with_a_ready_asset(stack: Stack) -> None:
    demo = stack.cli.json("demo")
    assert demo["upload"]["status"] in UPLOADED
    assert demo["asset"]["ownerId"] == "demo"
    assert demo["status"] == "ready"
    assert demo["asset"]["playback"]["hls"].startswith("http")
    assert demo["asset"]["thumbnails"]["poster"].startswith("http")
    assert demo["execution"]["status"] == "SUCCEEDED"
    assert demo["webPage"].startswith(stack.outputs["apiUrl"] + "/#token=")
    assert demo["execution"]["steps"][0]["state"] == "Probe source"


def test_concurrent_completes_make_one_object_one_execution_one_ready_asset(
    stack: Stack, alice: ApiClient, events_queue: Any, tmp_path: Path
) -> None:
    """A phone that times out on complete retries while the first is still running, several times."""
    clip = generate_clip(tmp_path / "retried.mp4", seconds=2, width=640, height=360)
    data = clip.read_bytes()
    created = declare(alice, len(data))
    etags = []
    for url in created["parts"]:
        start = (url["partNumber"] - 1) * created["partSize"]
        answer = put(url, data[start : start + url["size"]])
        etags.append({"partNumber": url["partNumber"], "etag": answer.headers["ETag"]})
    complete = lambda _: alice.post(f"/uploads/{created['uploadId']}/complete", {"parts": etags})  # noqa: E731
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(complete, range(4)))
    assert {answer["assetId"] for answer in answers} == {created["assetId"]}
    assert {answer["status"] for answer in answers} <= {"uploading", "uploaded", "processing", "ready"}
    asset = wait_for_asset(alice, created["assetId"], timeout=120)
    assert asset["status"] == "ready", asset.get("error")
    key = f"sources/alice/{created['assetId']}/{created['uploadId']}"
    versions = stack.client("s3").list_object_versions(Bucket=stack.outputs["uploadBucket"], Prefix=key)
    assert len(versions.get("Versions", [])) == 1
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.outputs["stateMachineArn"])["executions"]
    assert sum(item["name"].startswith(created["assetId"]) for item in executions) == 1
    time.sleep(1)  # SNS -> SQS
    ready = [e for e in events_queue() if e["assetId"] == created["assetId"] and e["type"] == "asset.ready"]
    assert len(ready) == 1


# -- issue 31: one request for a small file, and uploads from a URL ------------------------------


def test_a_small_file_goes_up_in_one_put_or_one_post_form(stack: Stack, alice: ApiClient) -> None:
    """One request instead of create, part, complete: the object's arrival completes the upload and
    starts the pipeline. (Random bytes, which the pipeline refuses at once: the stock-Uppy browser test
    takes both ways to ready.)"""
    data, noise = os.urandom(5000), os.urandom(4000)
    put_once = declare(alice, len(data), method="PUT", sha256=sha256_of(data))
    assert (put_once["method"], put_once["parts"]) == ("PUT", [])
    assert put(put_once, data[:-1]).status in (400, 403)  # the length is signed in
    assert put(put_once, data[:-1] + b"!").status in (400, 403)  # and the SHA-256
    assert put(put_once, data).status == 200
    form = declare(alice, len(noise), method="POST")  # what Uppy's getUploadParameters may answer
    too_long = http.request("POST", form["url"], fields={**form["fields"], "file": ("x.mp4", noise + b"!")})
    assert too_long.status == 400  # content-length-range in the policy
    assert http.request("POST", form["url"], fields={**form["fields"], "file": ("x.mp4", noise)}).status in (200, 204)
    for created, sent in ((put_once, data), (form, noise)):
        asset = wait_for_asset(alice, created["assetId"], timeout=60)  # failed: random bytes are no video
        assert asset["error"]["code"] == "NotMedia", asset["error"]  # the probe ran: the pipeline started
        upload = alice.get(f"/uploads/{created['uploadId']}")
        assert (upload["status"], upload["bytesUploaded"]) == ("completed", len(sent))
        assert stored_object(stack, created) == sent


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A web server on loopback (the test deployment's AllowLoopbackUrls lets the fetcher reach it):
    a clip, a 404, a redirect to a private address, and a 20 GB Content-Length with no body."""
    clip = generate_clip(tmp_path_factory.mktemp("served") / "clip.mp4", seconds=2, width=320, height=180)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/clip.mp4":
                self._answer(200, {"Content-Type": "video/mp4"}, clip.read_bytes())
            elif self.path == "/to-private":
                self._answer(302, {"Location": "http://10.0.0.1/video.mp4"}, b"")
            elif self.path == "/huge.mp4":
                self._answer(200, {"Content-Type": "video/mp4", "Content-Length": str(20 * 10**9)}, None)
            else:
                self._answer(404, {"Content-Type": "text/plain"}, b"no such video")

        def _answer(self, status: int, headers: dict[str, str], body: bytes | None) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_upload_from_a_url_becomes_ready_and_bad_urls_are_refused(
    stack: Stack, alice: ApiClient, video_server: str
) -> None:
    # Refused before anything connects: no asset is made. (Loopback itself is allowed here only by the
    # development switch; tests/unit/uploads/test_fetch.py refuses 127.0.0.1 and [::1] without it.)
    for url in ("http://10.0.0.1/video.mp4", "http://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/"):
        error = refused(alice.post, "/uploads", {"url": url})
        assert (error.status, error.code) == (400, "UnsafeUrl"), url
        assert "not a public address" in error.message
    good = alice.post("/uploads", {"url": f"{video_server}/clip.mp4", "title": "From a URL"})
    assert (good["mode"], good["sourceUrl"]) == ("url", f"{video_server}/clip.mp4")
    failing = {
        path: alice.post("/uploads", {"url": f"{video_server}{path}"})
        for path in ("/to-private", "/missing.mp4", "/huge.mp4")
    }
    asset = wait_for_asset(alice, good["assetId"], timeout=120)
    assert (asset["status"], asset["title"]) == ("ready", "From a URL"), asset.get("error")
    assert alice.get(f"/uploads/{good['uploadId']}")["bytesUploaded"] == asset["source"]["size"] > 0
    expected = {
        "/to-private": ("UnsafeUrl", "after a redirect: 'http://10.0.0.1/video.mp4' leads to 10.0.0.1"),
        "/missing.mp4": ("SourceNotFound", "not found: the URL answered 404"),
        "/huge.mp4": ("UploadTooLarge", "the video at the URL is 20000000000 bytes"),
    }
    s3 = stack.client("s3")
    for path, created in failing.items():
        failed = wait_for_asset(alice, created["assetId"], timeout=60)
        code, sentence = expected[path]
        assert (failed["status"], failed["error"]["code"]) == ("failed", code), failed
        assert failed["error"]["message"].startswith(sentence), failed["error"]
        assert alice.get(f"/uploads/{created['uploadId']}")["status"] == "aborted"
        prefix = f"sources/alice/{created['assetId']}/"
        assert not s3.list_object_versions(Bucket=stack.outputs["uploadBucket"], Prefix=prefix).get("Versions")
        open_uploads = s3.list_multipart_uploads(Bucket=stack.outputs["uploadBucket"], Prefix=prefix)
        assert not open_uploads.get("Uploads"), path
