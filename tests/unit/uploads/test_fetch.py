"""Uploads from a URL on moto: the URL vetted at POST /uploads, the fetch through the SSRF guard from a
server on loopback (names resolve through a stub; nothing leaves this machine), redirects re-vetted,
failures that say what went wrong and leave nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from reelstack import aws as reelstack_aws
from reelstack import netguard
from reelstack.config import MiB
from reelstack.store.records import AssetModel, UploadModel
from reelstack.uploads.fetch import fetch_into_upload
from tests.unit.conftest import UPLOAD_BUCKET, call

NAMES = {"videos.example.com": ["93.184.215.14"], "inside.example.com": ["10.1.2.3"], "loop.example.com": ["::1"]}
BODY = b"\0\0\0\x18ftypmp42" + bytes(range(256)) * 40000  # about 10 MiB: two parts


def stub(host: str, port: int) -> list[str]:
    return NAMES.get(host, [])


@pytest.fixture
def server() -> Iterator[str]:
    hops = {**{f"/hop{n}": f"/hop{n + 1}" for n in range(7)}, "/hop7": "/clip.mp4"}  # /hopN: 8 - N redirects

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers: dict[str, str] = {}
            status, body = 404, b"no"
            if self.path == "/clip.mp4":
                status, body, headers = 200, BODY, {"Content-Type": "video/mp4"}
            elif self.path in hops:
                status, body, headers = 302, b"", {"Location": hops[self.path]}
            elif self.path == "/to-inside":
                status, body, headers = 302, b"", {"Location": "https://inside.example.com/v.mp4"}
            elif self.path == "/to-metadata":
                status, body, headers = 301, b"", {"Location": "http://169.254.169.254/latest/"}
            elif self.path == "/page":
                status, body, headers = 200, b"<html>", {"Content-Type": "text/html"}
            elif self.path == "/huge.mp4":
                status, body, headers = 200, b"", {"Content-Type": "video/mp4", "Content-Length": str(20 * 10**9)}
            self.send_response(status)
            headers.setdefault("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    listening = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=listening.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{listening.server_address[1]}"
    listening.shutdown()


@pytest.fixture
def invoked(aws: None, setenv: Callable[..., None]) -> Iterator[list[dict[str, Any]]]:
    """The API's asynchronous invocation of FetchUrl, recorded (moto would want Docker to run it)."""
    setenv(FETCH_URL_FUNCTION="unit-fetch-url")
    calls: list[dict[str, Any]] = []

    class Lambda:
        def invoke(self, **request: Any) -> dict[str, Any]:
            calls.append(request)
            return {"StatusCode": 202}

    real = reelstack_aws.client
    previous = netguard.use_resolver(stub)
    with pytest.MonkeyPatch.context() as patch:  # undone before the aws fixture clears its caches
        patch.setattr(reelstack_aws, "client", lambda service: Lambda() if service == "lambda" else real(service))
        yield calls
    netguard.use_resolver(previous)


def from_url(url: str) -> tuple[int, Any]:
    return call("create-upload", body={"url": url, "title": "Fetched"})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/v.mp4",  # loopback, without the development switch
        "https://[::1]/v.mp4",
        "https://10.0.0.1/v.mp4",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
        "https://inside.example.com/v.mp4",  # a name that resolves to a private address
        "https://loop.example.com/v.mp4",
    ],
)
def test_non_public_addresses_are_refused_before_anything_is_made(invoked: list[dict[str, Any]], url: str) -> None:
    status, body = from_url(url)
    assert (status, body["error"]["code"]) == (400, "UnsafeUrl"), body
    assert invoked == [] and list(UploadModel.scan()) == []


def fetched(invoked: list[dict[str, Any]], url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """POST /uploads {url}, then what FetchUrl does with the invocation (loopback allowed, as in development)."""
    status, created = from_url(url)
    assert status == 201, created
    assert invoked[-1]["InvocationType"] == "Event"
    outcome = fetch_into_upload(created["uploadId"], guard=netguard.Guard(allow_loopback=True, resolver=stub))
    return created, outcome


def test_a_url_is_fetched_into_the_uploads_parts_and_completes_it(
    invoked: list[dict[str, Any]], server: str, setenv: Callable[..., None]
) -> None:
    setenv(ALLOW_LOOPBACK_URLS="on")
    created, outcome = fetched(invoked, f"{server}/hop3")  # five redirects (the most), then the clip
    assert outcome == {"uploadId": created["uploadId"], "status": "uploaded", "bytes": len(BODY)}
    upload = UploadModel.get(created["uploadId"])
    assert (upload.status, upload.size, upload.part_size, upload.part_count) == ("completed", len(BODY), 8 * MiB, 2)
    stored = boto3.client("s3").get_object(Bucket=UPLOAD_BUCKET, Key=upload.key)["Body"].read()
    assert stored == BODY
    asset = AssetModel.get(created["assetId"])
    assert (asset.status, asset.title, asset.source.filename) == ("uploaded", "Fetched", "hop3")
    status, seen = call("get-upload", upload_id=created["uploadId"])
    assert (status, seen["status"], seen["bytesUploaded"]) == (200, "completed", len(BODY))


def test_the_client_has_nothing_to_send_for_an_upload_from_a_url(invoked: list[dict[str, Any]], server: str) -> None:
    status, created = from_url("https://videos.example.com/v.mp4")
    assert status == 201, created
    status, body = call("request-parts", upload_id=created["uploadId"])
    assert (status, body["error"]["code"]) == (409, "UploadFromUrl")
    status, body = call("complete-upload", upload_id=created["uploadId"])
    assert (status, body["error"]["code"]) == (409, "UploadFromUrl")


@pytest.mark.parametrize(
    ("path", "code", "sentence"),
    [
        ("/missing.mp4", "SourceNotFound", "not found: the URL answered 404"),
        ("/huge.mp4", "UploadTooLarge", "the video at the URL is 20000000000 bytes"),
        ("/page", "NotAVideo", "not a video: the URL serves text/html"),
        ("/to-inside", "UnsafeUrl", "after a redirect: 'https://inside.example.com/v.mp4' leads to 10.1.2.3"),
        ("/to-metadata", "UnsafeUrl", "after a redirect: 'http://169.254.169.254/latest/' leads to 169.254"),
        ("/hop0", "TooManyRedirects", "more than 5 redirects"),
    ],
)
def test_a_url_that_fails_fails_the_asset_with_a_sentence_and_leaves_nothing(
    invoked: list[dict[str, Any]], server: str, setenv: Callable[..., None], path: str, code: str, sentence: str
) -> None:
    setenv(ALLOW_LOOPBACK_URLS="on")
    created, outcome = fetched(invoked, f"{server}{path}")
    assert outcome["failed"] == code
    asset = AssetModel.get(created["assetId"])
    assert (asset.status, asset.error.code) == ("failed", code)
    assert asset.error.message.startswith(sentence), asset.error.message
    assert UploadModel.get(created["uploadId"]).status == "aborted"
    s3 = boto3.client("s3")
    assert s3.list_multipart_uploads(Bucket=UPLOAD_BUCKET).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=UPLOAD_BUCKET).get("KeyCount", 0) == 0


def test_an_unreachable_url_says_so(invoked: list[dict[str, Any]], setenv: Callable[..., None]) -> None:
    setenv(ALLOW_LOOPBACK_URLS="on")
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    created, outcome = fetched(invoked, f"http://127.0.0.1:{port}/v.mp4")  # nobody listens there now
    assert outcome["failed"] == "SourceUnreachable"
    assert AssetModel.get(created["assetId"]).error.message.startswith("the URL is not reachable")
