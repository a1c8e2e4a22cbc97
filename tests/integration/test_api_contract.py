"""The deployed API against its own description (docs/openapi.json), with schemathesis; and what a
browser gets for a route the API does not have.

Every operation gets generated requests, valid and invalid (schemathesis' examples, coverage and fuzzing
phases), sent to the local cloud; each answer must be no 5xx, a documented status code, a documented
content type, and match the documented schema. Test data (a ready asset, an upload in progress, a
registered phone) lets half of the generated requests name things that exist, so they get past the 404.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import schemathesis
import urllib3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from reelstack_cli.api_client import ApiClient
from reelstack_cli.settings import CHECKOUT
from tests.integration.browsers import chromium
from tests.integration.conftest import Stack, api_for, upload_ready_clip

pytestmark = pytest.mark.localcloud

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261204,  # with derandomize below: the same requests on every run, in CI too
        "phases": {"stateful": {"enabled": False}},  # the `target` fixture makes what the operations need
        "operations": [
            {
                # Why: the size limit is a deployment parameter (MaxUploadBytes, 413) and the declared type's
                # rule (video/*, audio/* or application/octet-stream, any case, parameters ignored: 415)
                # is in contentType's description: no pattern says it exactly. Both are documented answers.
                # Also 400: a URL to fetch must be https on a public address (checked by resolving it), and
                # method (one request) takes no partSize; the schema cannot say either.
                "include-operation-id": "createUpload",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "413", "415", "429"]}
                },
            },
            {
                # Why: Companion's routes take an upload grant in the path that only the API can make (401
                # for any other), an upload id and the key the server chose (404 otherwise), part numbers
                # and ETags that S3 knows (400, 409); a declared type that is not media is 415, as for POST /uploads.
                "include-operation-id": [
                    "companionParams",
                    "companionCreate",
                    "companionListParts",
                    "companionAbort",
                    "companionSignPart",
                    "companionComplete",
                ],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404", "409", "415", "429"]}
                },
            },
            {
                # Why: whether a text is captions (SubRip or WebVTT, cues within the video) is read from it
                # (400 InvalidCaptions with a sentence); a track id exists only once the API made one (404);
                # an audio track cannot be removed and an asset holds at most 20 text tracks (409).
                "include-operation-id": ["addTrack", "deleteTrack"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404", "409", "429"]}
                },
            },
            {
                # Why: what makes these valid is known only to the API: a part number up to the upload's
                # partCount, the ETags S3 gave the parts, a cursor the API handed out (opaque). 400 (or 409
                # for an upload no longer open) is the documented answer to the others.
                "include-operation-id": ["requestParts", "completeUpload", "listAssets", "feed"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "404", "409", "429"]}
                },
            },
        ],
    }
)
SCHEMA = schemathesis.openapi.from_path(CHECKOUT / "docs" / "openapi.json", config=CONFIG)
http = urllib3.PoolManager(retries=False)


class Target:
    """Where the tests send requests and what exists there (set by the ``target`` fixture)."""

    base_url = ""
    token = ""
    known: dict[str, dict[str, str]] = {}  # noqa: RUF012 - filled once per session


@SCHEMA.auth(refresh_interval=None)
class DevelopmentToken:
    """The tester's development JWT, on every request that does not leave it out on purpose."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return Target.token

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def target(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> type[Target]:
    tester = api_for(stack, "contract-tester")
    ready = upload_ready_clip(tester, tmp_path_factory.mktemp("contract"))
    tester.patch(f"/assets/{ready['assetId']}", {"visibility": "public"})  # the share page shows it
    token, rendition, segment = _playback_names(tester, ready["assetId"])
    declared = {"filename": "later.mp4", "size": 8 * 1024 * 1024, "contentType": "video/mp4"}
    resumable, to_abort, to_delete = (tester.post("/uploads", declared) for _ in range(3))
    device = tester.post("/devices", {"platform": "apns", "token": "ab" * 32})
    grant = tester.post("/upload-grants", {})["grant"]  # what Companion's routes carry in their path
    shared = {"asset_id": ready["assetId"], "upload_id": resumable["uploadId"], "token": token, "grant": grant}
    Target.base_url, Target.token = stack.outputs["apiUrl"], tester.token
    Target.known = {
        "": {**shared, "rendition": rendition, "segment": segment, "file": "poster.jpg", "name": "app.js"},
        # The destructive operations get things of their own, so the others keep theirs.
        "abortUpload": {"upload_id": to_abort["uploadId"]},
        "companionAbort": {"upload_id": to_abort["uploadId"]},
        "deleteAsset": {"asset_id": to_delete["assetId"]},
        "removeDevice": {"device_id": device["deviceId"]},
    }
    return Target


def _playback_names(api: ApiClient, asset_id: str) -> tuple[str, str, str]:
    """The playback token of a ready asset, its first rendition and that rendition's first segment."""
    hls = api.get(f"/assets/{asset_id}/playback")["hls"]
    token = re.search(r"/playback/([^/]+)/master\.m3u8", hls).group(1)
    master = http.request("GET", hls).data.decode()
    rendition = next(line for line in master.splitlines() if line and not line.startswith("#")).split("/")[0]
    media = http.request("GET", hls.replace("master.m3u8", f"{rendition}/index.m3u8")).data.decode()
    segment = next(line for line in media.splitlines() if line and not line.startswith("#")).split("?")[0]
    return token, rendition, segment.rsplit("/", 1)[-1]


# 5 examples per operation (23 operations: about 30 s here); derandomized and without Hypothesis' example
# database, the same requests on every run. Health checks off: drawing a 4096-character FCM token from its
# pattern is "slow data" to Hypothesis, and the examples are bounded anyway.
@SCHEMA.parametrize()
@SCHEMA.given(existing=st.booleans())
@settings(max_examples=5, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_description_says(case: schemathesis.Case, existing: bool, target: type[Target]) -> None:
    """Half the requests name the test data's things (``existing``), the others what was generated."""
    if existing and case.path_parameters and not case.meta.is_negative_at("path"):
        known = {**target.known[""], **target.known.get(case.operation.definition.raw["operationId"], {})}
        case.path_parameters = {name: known.get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(base_url=target.base_url)


ORIGIN = "https://app.example.com"  # a web page elsewhere, as a browser's fetch() sends it


def _fetch(method: str, url: str, token: str | None = None, **headers: str) -> urllib3.BaseHTTPResponse:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return http.request(method, url, headers={"Origin": ORIGIN, **headers})


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_browser_reads_the_json_error_of_a_route_the_api_does_not_have(stack: Stack, signed_in: bool) -> None:
    token = api_for(stack, "wrong-base-path").token if signed_in else None
    for method, path in (("GET", "/v1/assets"), ("POST", "/api/uploads"), ("DELETE", "/assets/x/y/z")):
        answer = _fetch(method, stack.outputs["apiUrl"] + path, token)
        assert answer.status == 404, answer.data
        assert answer.headers["Access-Control-Allow-Origin"] in (ORIGIN, "*")
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["error"] == {
            "code": "RouteNotFound",
            "message": f"{method} {path} is not a route of this API (its routes are in docs/openapi.json)",
        }


def test_a_method_a_path_lacks_is_405_naming_the_methods_it_takes(stack: Stack) -> None:
    answer = _fetch("PUT", stack.outputs["apiUrl"] + "/assets/some-id", api_for(stack, "wrong-method").token)
    assert answer.status == 405
    assert answer.headers["Allow"] == "GET, PATCH, DELETE"
    assert answer.headers["Access-Control-Allow-Origin"] in (ORIGIN, "*")
    assert answer.json()["error"]["code"] == "MethodNotAllowed"


def test_real_routes_still_answer_and_their_preflight_allows_the_browser(stack: Stack) -> None:
    url = stack.outputs["apiUrl"] + "/assets"
    preflight = _fetch(
        "OPTIONS", url, **{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    )
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in (ORIGIN, "*")
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"].split(",")
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower().split(",")
    listed = _fetch("GET", url, api_for(stack, "real-route").token)
    assert listed.status == 200
    assert listed.json() == {"items": [], "nextCursor": None}
    assert listed.headers["Access-Control-Allow-Origin"] in (ORIGIN, "*")


_PAGE = b"<!doctype html><title>an app on another origin</title>"


class _AppPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(_PAGE)

    def log_message(self, *args: object) -> None:
        pass


def test_chromium_fetch_of_a_route_the_api_does_not_have_reads_the_json_error(stack: Stack) -> None:
    """A web app on another origin (a page on this machine's loopback) calls a wrong path with fetch(),
    without and with a token (the token makes Chromium send a CORS preflight first): it reads the
    contract's JSON error, where before it got only "Failed to fetch"."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AppPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = stack.outputs["apiUrl"] + "/v1/assets"
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            for token in (None, api_for(stack, "browser-fetch").token):
                answer = page.evaluate(
                    """async ([url, token]) => {
                        try {
                            const headers = token ? {Authorization: `Bearer ${token}`} : {};
                            const response = await fetch(url, {headers});
                            return {status: response.status, body: await response.json()};
                        } catch (error) { return {failed: String(error)}; }
                    }""",
                    [url, token],
                )
                assert answer.get("status") == 404, answer
                assert answer["body"]["error"]["code"] == "RouteNotFound", answer
    finally:
        server.shutdown()
