"""The library on the local cloud: list with cursors, edit, delete (every object), playback, health."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3

from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.deploy import dev_secret
from reelstack_cli.media import ffprobe, generate_clip
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset
from tests.integration.conftest import Stack

pytestmark = pytest.mark.localcloud
http = urllib3.PoolManager(retries=False)


def refused(call: Callable[..., Any], *args: Any) -> ApiError:
    with pytest.raises(ApiError) as error:
        call(*args)
    return error.value


@pytest.fixture
def someone(stack: Stack) -> ApiClient:
    """A user of their own, so that their library holds only what the test made."""
    return ApiClient(stack.outputs["apiUrl"], issue_dev_token(dev_secret(stack.settings), f"u-{uuid.uuid4().hex[:8]}"))


@pytest.fixture(scope="module")
def ready_asset(stack: Stack, tmp_path_factory: Any) -> tuple[ApiClient, dict[str, Any]]:
    owner = ApiClient(stack.outputs["apiUrl"], issue_dev_token(dev_secret(stack.settings), "viewer"))
    folder = tmp_path_factory.mktemp("library")
    clip = generate_clip(folder / "watch.mp4", seconds=4, width=640, height=360)
    uploaded = Uploader(owner, "viewer", state=StateStore(folder / "state")).upload(clip)
    asset = wait_for_asset(owner, uploaded["assetId"], timeout=120)
    assert asset["status"] == "ready", asset
    return owner, asset


def test_the_library_pages_newest_first_with_cursors(someone: ApiClient) -> None:
    made = [
        someone.post("/uploads", {"filename": f"clip{n}.mp4", "size": 1000, "contentType": "video/mp4"})["assetId"]
        for n in range(5)
    ]
    seen, cursor, pages = [], None, 0
    while True:
        page = someone.get("/assets?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        pages += 1
        assert len(page["items"]) <= 2
        seen += [item["assetId"] for item in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))  # newest first, each once
    assert pages >= 3
    error = refused(someone.get, "/assets?limit=500")
    assert (error.status, error.code) == (400, "InvalidLimit")
    error = refused(someone.get, "/assets?cursor=bm90LWEtY3Vyc29y")
    assert (error.status, error.code) == (400, "InvalidCursor")


def test_someone_elses_cursor_is_refused(someone: ApiClient, mallory: ApiClient) -> None:
    for n in range(3):
        someone.post("/uploads", {"filename": f"c{n}.mp4", "size": 1000, "contentType": "video/mp4"})
    cursor = someone.get("/assets?limit=1")["nextCursor"]
    error = refused(mallory.get, f"/assets?limit=1&cursor={cursor}")
    assert (error.status, error.code) == (400, "InvalidCursor")


def test_edit_changes_only_what_the_contract_allows(
    stack: Stack, someone: ApiClient, events_queue: Callable[[], list[dict[str, Any]]]
) -> None:
    asset_id = someone.post("/uploads", {"filename": "e.mp4", "size": 1000, "contentType": "video/mp4"})["assetId"]
    edited = someone.request(
        "PATCH", f"/assets/{asset_id}", {"title": "Sunset", "tags": ["beach"], "visibility": "public"}
    )
    assert (edited["title"], edited["tags"], edited["visibility"]) == ("Sunset", ["beach"], "public")
    assert someone.get(f"/assets/{asset_id}")["title"] == "Sunset"
    for body, code in (
        ({"status": "ready"}, "UnknownField"),
        ({"ownerId": "mallory"}, "UnknownField"),
        ({"title": "x" * 201}, "InvalidField"),
        ({"visibility": "secret"}, "InvalidField"),
        ({"tags": "beach"}, "InvalidField"),
        ({"title": None}, "InvalidField"),
        ({}, "InvalidField"),
    ):
        error = refused(someone.request, "PATCH", f"/assets/{asset_id}", body)
        assert (error.status, error.code) == (400, code), body
    assert someone.get(f"/assets/{asset_id}")["title"] == "Sunset"
    time.sleep(1)
    updates = [e for e in events_queue() if e["assetId"] == asset_id and e["type"] == "asset.updated"]
    assert len(updates) == 1
    assert updates[0]["changes"]["title"] == "Sunset"


def test_someone_elses_asset_is_not_found_on_every_route(
    ready_asset: tuple[ApiClient, dict[str, Any]], mallory: ApiClient
) -> None:
    owner, asset = ready_asset
    path = f"/assets/{asset['assetId']}"
    for call in (
        lambda: mallory.get(path),
        lambda: mallory.request("PATCH", path, {"title": "mine now"}),
        lambda: mallory.delete(path),
        lambda: mallory.get(path + "/playback"),
    ):
        error = refused(call)
        assert (error.status, error.code) == (404, "AssetNotFound")
    assert asset["assetId"] not in [item["assetId"] for item in mallory.get("/assets?limit=100")["items"]]
    assert owner.get(path)["title"] != "mine now"


def test_a_download_asked_for_after_ready_appears_and_bad_requests_get_clear_errors(
    ready_asset: tuple[ApiClient, dict[str, Any]], someone: ApiClient, mallory: ApiClient
) -> None:
    owner, asset = ready_asset
    path = f"/assets/{asset['assetId']}/downloads"
    assert "downloads" not in owner.get(f"/assets/{asset['assetId']}")  # off by default
    for body, code in (({"names": ["8k"]}, "UnknownDownload"), ({"names": []}, "InvalidField"), ({}, "MissingField")):
        error = refused(owner.post, path, body)
        assert (error.status, error.code) == (400, code), body
    error = refused(mallory.post, path, {"names": ["audio"]})
    assert (error.status, error.code) == (404, "AssetNotFound")
    unfinished = someone.post("/uploads", {"filename": "u.mp4", "size": 1000, "contentType": "video/mp4"})
    error = refused(someone.post, f"/assets/{unfinished['assetId']}/downloads", {"names": ["audio"]})
    assert (error.status, error.code) == (409, "AssetNotReady")

    asked = owner.post(path, {"names": ["audio"]})
    assert [(entry["name"], entry["status"]) for entry in asked["downloads"]] == [("audio", "preparing")]
    deadline = time.monotonic() + 120
    while (entry := owner.get(f"/assets/{asset['assetId']}")["downloads"][0])["status"] == "preparing":
        assert time.monotonic() < deadline, entry
        time.sleep(0.5)
    assert entry["status"] == "ready" and entry["bytes"] > 0, entry
    answer = http.request("GET", entry["url"])
    assert answer.status == 200 and answer.headers["Content-Disposition"].startswith("attachment;")
    assert "(audio).m4a" in answer.headers["Content-Disposition"]
    sound = [stream["codec_type"] for stream in json.loads(subprocess.run(
        [ffprobe(), "-v", "error", "-of", "json", "-show_streams", "-"], input=answer.data, capture_output=True,
        check=True).stdout)["streams"]]  # fmt: skip
    assert sound == ["audio"]


def test_pictures_on_demand_are_rendered_once_for_the_owner_and_for_anyone_only_while_shared(
    stack: Stack, ready_asset: tuple[ApiClient, dict[str, Any]], mallory: ApiClient
) -> None:
    owner, asset = ready_asset
    base, path = stack.outputs["apiUrl"], f"/assets/{asset['assetId']}"
    headers = {"Authorization": f"Bearer {owner.token}"}
    first = http.request("GET", f"{base}{path}/thumbnail.jpg?time=2.5&width=320", headers=headers, redirect=False)
    assert first.status == 302, first.data
    picture = http.request("GET", first.headers["Location"])
    assert picture.status == 200 and picture.data[:2] == b"\xff\xd8"  # a JPEG
    again = http.request("GET", f"{base}{path}/thumbnail.jpg?width=320&time=2.500", headers=headers, redirect=False)
    assert again.status == 302 and again.headers["Location"].split("?")[0] == first.headers["Location"].split("?")[0]
    animated = http.request("GET", f"{base}{path}/animated.gif?start=0&end=2&fps=5", headers=headers, redirect=False)
    assert animated.status == 302 and http.request("GET", animated.headers["Location"]).data[:6] == b"GIF89a"
    for query, says in (("time=9", "past the end"), ("width=0", "1 to 1920"), ("fit=zoom", "fit")):
        error = refused(owner.get, f"{path}/thumbnail.jpg?{query}")
        assert (error.status, error.code) == (400, "InvalidPictureParameter") and says in error.message
    error = refused(owner.get, f"{path}/animated.webp?start=0&end=3&fps=100")
    assert (error.status, error.code) == (400, "InvalidPictureParameter")
    error = refused(mallory.get, f"{path}/thumbnail.jpg")
    assert (error.status, error.code) == (404, "AssetNotFound")
    shared = f"{base}/watch/{asset['assetId']}/thumbnail.webp?time=1"
    assert http.request("GET", shared, redirect=False).status == 404  # private: nothing for anyone else
    owner.request("PATCH", path, {"visibility": "public"})
    try:
        answer = http.request("GET", shared, redirect=False)  # no token
        assert answer.status == 302 and "public" in answer.headers["Cache-Control"]
    finally:
        owner.request("PATCH", path, {"visibility": "private"})
    assert http.request("GET", shared, redirect=False).status == 404  # private again: at once


def test_a_private_asset_plays_for_its_owner(ready_asset: tuple[ApiClient, dict[str, Any]], tmp_path: Path) -> None:
    owner, asset = ready_asset
    playback = owner.get(f"/assets/{asset['assetId']}/playback")
    assert playback["expiresAt"]
    assert owner.get(f"/assets/{asset['assetId']}")["playback"]["hls"].endswith("/master.m3u8")
    # A stock player: ffmpeg's HLS client follows master -> variant -> presigned segments over HTTP.
    command = [ffprobe(), "-v", "error", "-of", "json", "-show_format", "-show_streams", playback["hls"]]
    probed = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout)
    assert abs(float(probed["format"]["duration"]) - 4) < 0.5
    assert {stream["codec_type"] for stream in probed["streams"]} == {"video", "audio"}


def test_tampered_or_expired_playback_urls_are_refused(
    stack: Stack, ready_asset: tuple[ApiClient, dict[str, Any]]
) -> None:
    owner, asset = ready_asset
    url = owner.get(f"/assets/{asset['assetId']}/playback")["hls"]
    token = url.split("/playback/")[1].split("/")[0]
    tampered = url.replace(token, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    assert http.request("GET", tampered).status == 403
    expired_token = jwt.encode(
        {"asset": asset["assetId"], "exp": int(time.time()) - 10},
        dev_secret(stack.settings, name="playback-secret"),
        algorithm="HS256",
    )
    answer = http.request("GET", url.replace(token, expired_token))
    assert (answer.status, json.loads(answer.data)["error"]["code"]) == (403, "PlaybackDenied")
    # The segments' presigned URLs: S3 in the local cloud refuses a tampered one.
    media_playlist = http.request("GET", url.replace("master.m3u8", "360p/index.m3u8")).data.decode()
    segment = next(line for line in media_playlist.splitlines() if line.startswith("http") and ".m4s" in line)
    assert http.request("GET", segment).status == 200
    assert http.request("GET", segment.replace("segment_00000", "segment_00001")).status == 403
    # The same kind of URL, signed to expire at once, is refused once it has.
    key = segment.split(stack.outputs["mediaBucket"] + "/", 1)[1].split("?", 1)[0]
    short = stack.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": stack.outputs["mediaBucket"], "Key": key}, ExpiresIn=1
    )
    time.sleep(2)
    expired = http.request("GET", short)
    assert (expired.status, b"expired" in expired.data) == (403, True)


def test_deleting_an_asset_removes_every_object_it_owns(
    stack: Stack, tmp_path: Path, events_queue: Callable[[], list[dict[str, Any]]]
) -> None:
    owner = ApiClient(stack.outputs["apiUrl"], issue_dev_token(dev_secret(stack.settings), "deleter"))
    clip = generate_clip(tmp_path / "gone.mp4", seconds=2, width=320, height=180)
    uploaded = Uploader(owner, "deleter", state=StateStore(tmp_path / "state")).upload(clip)
    asset = wait_for_asset(owner, uploaded["assetId"], timeout=120)
    assert asset["status"] == "ready"
    s3 = stack.client("s3")

    def objects(bucket: str, prefix: str) -> list[str]:
        listing = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]

    source_prefix = f"sources/deleter/{asset['assetId']}/"
    media_prefix = f"assets/{asset['assetId']}/"
    assert objects(stack.outputs["uploadBucket"], source_prefix)
    assert objects(stack.outputs["mediaBucket"], media_prefix)
    assert owner.delete(f"/assets/{asset['assetId']}") is None
    assert objects(stack.outputs["uploadBucket"], source_prefix) == []
    assert objects(stack.outputs["mediaBucket"], media_prefix) == []
    assert refused(owner.get, f"/assets/{asset['assetId']}").status == 404
    # A phone that lost the answer deletes again: 204 again (the clean-up runs again), one event.
    assert owner.delete(f"/assets/{asset['assetId']}") is None
    assert asset["assetId"] not in [item["assetId"] for item in owner.get("/assets")["items"]]
    time.sleep(1)
    assert [e["type"] for e in events_queue() if e["assetId"] == asset["assetId"]].count("asset.deleted") == 1


def test_deleting_an_asset_still_uploading_frees_its_parts(stack: Stack, someone: ApiClient) -> None:
    created = someone.post("/uploads", {"filename": "half.mp4", "size": 9 * 2**20, "contentType": "video/mp4"})
    assert http.request("PUT", created["parts"][0]["url"], body=b"v" * 8 * 2**20).status == 200
    assert someone.delete(f"/assets/{created['assetId']}") is None
    assert someone.get(f"/uploads/{created['uploadId']}")["status"] == "aborted"
    open_uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.outputs["uploadBucket"]).get("Uploads", [])
    assert not [item for item in open_uploads if created["assetId"] in item["Key"]]


@pytest.fixture
def api_environment(stack: Stack) -> Iterator[Callable[[dict[str, str]], None]]:
    with stack.function_environment("ApiFunction") as configure:
        yield configure


def test_health_reports_each_dependency_honestly(stack: Stack, api_environment: Callable[..., None]) -> None:
    health_url = stack.outputs["apiUrl"] + "/health"
    answer = json.loads(http.request("GET", health_url).data)  # no token needed
    assert answer["status"] == "ok"
    dead_letters = {
        "ingestDeadLetters", "notifyDeadLetters", "executionEndedDeadLetters", "uploadSweeperDeadLetters",
        "outboxSweeperDeadLetters",
    }  # fmt: skip
    assert set(answer["checks"]) == {
        "assetsTable", "uploadsTable", "uploadBucket", "mediaBucket", "eventsTopic", "stateMachine", *dead_letters
    }  # fmt: skip
    assert all(check["status"] == "ok" and check["latencyMs"] >= 0 for check in answer["checks"].values())
    assert all(answer["checks"][queue]["depth"] == 0 for queue in dead_letters)

    api_environment({"EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:no-such-topic"})
    answer = json.loads(http.request("GET", health_url).data)
    assert answer["status"] == "degraded"
    assert answer["checks"]["eventsTopic"]["status"] == "down"
    assert answer["checks"]["eventsTopic"]["error"]

    api_environment({"UPLOADS_TABLE": "no-such-table"})
    answer = json.loads(http.request("GET", health_url).data)
    assert answer["status"] == "down"
    assert answer["checks"]["uploadsTable"]["status"] == "down"


def test_the_cli_lists_edits_and_draws_an_assets_pipeline(
    stack: Stack, ready_asset: tuple[ApiClient, dict[str, Any]]
) -> None:
    _, asset = ready_asset
    listed = stack.cli.json("assets", "list", "--user", "viewer")
    assert asset["assetId"] in [item["assetId"] for item in listed["items"]]
    updated = stack.cli.json("assets", "update", asset["assetId"], "--user", "viewer", "--tag", "cli", "--tag", "x")
    assert updated["tags"] == ["cli", "x"]
    drawn = stack.cli.run("assets", "get", asset["assetId"], "--user", "viewer", "--graph").stdout
    assert "pipeline: execution SUCCEEDED" in drawn
    assert re.search(r"✔ Probe source\s+task\s+succeeded\s+\d+ ms", drawn)
    assert re.search(r"· Record failure\s+task\s+not run", drawn)
    report = stack.cli.json("assets", "get", asset["assetId"], "--user", "viewer", "--graph")["pipeline"]
    assert [state["name"] for state in report["states"]][:2] == ["Probe source", "Plan renditions"]


def test_a_client_past_its_rate_gets_429_with_retry_after(
    stack: Stack, someone: ApiClient, mallory: ApiClient, api_environment: Callable[[dict[str, str]], None]
) -> None:
    # One request a second: a burst of 4 meets the limit however slowly a loaded machine serves it
    # (with a higher limit, a burst spread over a few seconds can all pass). Each request at once needs
    # an API environment of its own, and a new one is a Python process to start: 4, not more.
    api_environment({"CLIENT_REQUESTS_PER_SECOND": "1"})
    url = stack.outputs["apiUrl"] + "/assets?limit=1"

    def burst(token: str) -> list[urllib3.BaseHTTPResponse]:
        with ThreadPoolExecutor(4) as pool:
            return list(
                pool.map(lambda _: http.request("GET", url, headers={"Authorization": f"Bearer {token}"}), range(4))
            )

    answers = burst(someone.token)
    refused_answers = [answer for answer in answers if answer.status == 429]
    assert refused_answers, [answer.status for answer in answers]
    assert all(answer.status in (200, 429) for answer in answers)
    assert all(answer.headers["Retry-After"] == "1" for answer in refused_answers)
    assert json.loads(refused_answers[0].data)["error"]["code"] == "TooManyRequests"
    assert mallory.get("/assets?limit=1") is not None  # another client is not held back
    time.sleep(1.1)
    assert http.request("GET", url, headers={"Authorization": f"Bearer {someone.token}"}).status == 200
    # The project's client waits as told and gets through (8 requests, 4 at once, 5 attempts each, 3 a second).
    api_environment({"CLIENT_REQUESTS_PER_SECOND": "3"})
    with ThreadPoolExecutor(4) as pool:
        assert all(page["items"] is not None for page in pool.map(lambda _: someone.get("/assets?limit=1"), range(8)))
