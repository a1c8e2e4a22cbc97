"""Public videos on the local cloud: alice shares, bob finds them in the feed and plays them with a stock
HLS client, until alice makes one private again; paging, deletes and the share page."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.media import Clip, ffprobe, make_clip
from reelstack_cli.uploader import wait_for_asset
from tests.integration.conftest import Stack
from tests.integration.test_pipeline import upload

pytestmark = pytest.mark.localcloud
# Small, and not all alike: a phone's portrait clip, a landscape one at 25 fps, one without sound.
CLIPS = {
    "portrait": Clip(2, 360, 640, "30"),
    "landscape-25fps": Clip(3, 480, 270, "25", gop_seconds=None),
    "silent": Clip(2, 320, 240, "30", audio="none"),
    "moov-last": Clip(2, 426, 240, "30", faststart=False),
}


@pytest.fixture(scope="module")
def clips(alice: ApiClient, tmp_path_factory: Any) -> dict[str, dict[str, Any]]:
    """Alice's clips, uploaded at once and ready, all still private."""
    folder = tmp_path_factory.mktemp("feed")

    def made(name: str) -> tuple[str, dict[str, Any]]:
        recipe = CLIPS[name]
        clip = make_clip(folder / f"{name}{recipe.suffix}", recipe)
        uploaded = upload(alice, clip, folder / "state")
        alice.patch(f"/assets/{uploaded['assetId']}", {"title": f"alice's {name}"})
        return name, wait_for_asset(alice, uploaded["assetId"], timeout=180)

    with ThreadPoolExecutor(4) as pool:
        ready = dict(pool.map(made, CLIPS))
    assert {asset["status"] for asset in ready.values()} == {"ready"}, ready
    return ready


def whole_feed(api: ApiClient, limit: int) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        page = api.get(f"/feed?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            return items


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects: status, headers, body."""

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(Stay).open(url, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def played_frames(url: str) -> int:
    """Every video frame a stock HLS client (ffprobe's HLS demuxer) decodes through the URL."""
    command = [ffprobe(), "-v", "error", "-of", "json", "-count_frames", "-select_streams", "v:0",
               "-show_entries", "stream=nb_read_frames", url]  # fmt: skip
    played = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert played.returncode == 0, played.stderr[-2000:]
    return int(json.loads(played.stdout)["streams"][0]["nb_read_frames"])


def test_bob_plays_alices_public_video_until_she_makes_it_private(
    stack: Stack,
    alice: ApiClient,
    bob: ApiClient,
    mallory: ApiClient,
    clips: dict[str, dict[str, Any]],
    events_queue: Callable[[], list[dict[str, Any]]],
) -> None:
    asset_id = clips["portrait"]["assetId"]
    with pytest.raises(ApiError) as hidden:
        bob.get(f"/assets/{asset_id}")
    assert hidden.value.status == 404

    events_queue()
    shared = alice.patch(f"/assets/{asset_id}", {"visibility": "public"})
    assert shared["visibility"] == "public" and shared["madePublicAt"]
    seen = bob.get(f"/assets/{asset_id}")
    assert (seen["ownerId"], seen["title"], seen["status"]) == ("alice", "alice's portrait", "ready")
    assert "source" not in seen and "portrait.mp4" not in json.dumps(seen)
    assert whole_feed(bob, 20)[0]["assetId"] == asset_id  # the newest made public

    url = bob.get(f"/assets/{asset_id}/playback")["hls"]
    assert mallory.get(f"/assets/{asset_id}/playback")["hls"] == url  # one URL for every viewer: cacheable
    assert played_frames(url) == 2 * 30
    status, headers, _ = fetch(url)
    assert status == 200 and headers["Cache-Control"] == "public, max-age=60"

    alice.patch(f"/assets/{asset_id}", {"visibility": "private"})
    # The rule: from the switch on, the API refuses every URL handed out before, playlists and segments
    # (a CDN may keep what it cached for 60 s more).
    status, _, body = fetch(url)
    assert (status, json.loads(body)["error"]["code"]) == (403, "PlaybackRevoked")
    rendition = url.replace("master.m3u8", f"{clips['portrait']['renditions'][0]['name']}/index.m3u8")
    assert fetch(rendition)[0] == 403
    assert fetch(rendition.replace("index.m3u8", "segment_00000.m4s"))[0] == 403
    played = subprocess.run([ffprobe(), "-v", "error", url], capture_output=True, text=True, timeout=60)
    assert played.returncode != 0 and "403" in played.stderr
    with pytest.raises(ApiError) as gone:
        bob.get(f"/assets/{asset_id}")
    assert gone.value.status == 404
    assert asset_id not in [item["assetId"] for item in whole_feed(bob, 20)]
    assert played_frames(alice.get(f"/assets/{asset_id}/playback")["hls"]) == 2 * 30  # alice still plays it

    time.sleep(1)  # SNS -> SQS
    updates = [
        event
        for event in events_queue()
        if event["assetId"] == asset_id and event["type"] == "asset.updated" and "visibility" in event["changes"]
    ]
    assert [(event["visibility"], event["previousVisibility"]) for event in updates] == [
        ("public", "private"),
        ("private", "public"),
    ]


def test_the_feed_pages_each_public_asset_once_and_never_a_private_or_deleted_one(
    alice: ApiClient, bob: ApiClient, clips: dict[str, dict[str, Any]]
) -> None:
    public = [clips[name]["assetId"] for name in ("landscape-25fps", "silent", "moov-last")]
    for asset_id in public:
        alice.patch(f"/assets/{asset_id}", {"visibility": "public"})
    private = clips["portrait"]["assetId"]

    for limit in (1, 2):
        feed = whole_feed(bob, limit)
        ids = [item["assetId"] for item in feed]
        assert len(ids) == len(set(ids)), ids  # each asset once, over several pages
        assert [asset_id for asset_id in ids if asset_id in public] == public[::-1]  # newest made public first
        assert private not in ids
        times = [item["madePublicAt"] for item in feed]
        assert times == sorted(times, reverse=True)
    for item in whole_feed(bob, 2):
        if item["assetId"] in public:
            assert item["title"].startswith("alice's") and item["thumbnails"]["poster"] and item["playback"]["hls"]
            assert item["media"]["durationSeconds"] > 1.5 and "source" not in item
            assert item["previews"]["video"] and item["previews"]["animated"]

    poster = next(item for item in whole_feed(bob, 2) if item["assetId"] == public[0])["thumbnails"]["poster"]
    assert fetch(poster)[0] == 302  # the API's redirect: the same URL for everyone, cacheable
    alice.delete(f"/assets/{public[0]}")
    assert public[0] not in [item["assetId"] for item in whole_feed(bob, 2)]  # at once
    assert fetch(poster)[0] == 404  # and its pictures with it


def test_the_share_page_shows_a_preview_to_anyone_and_nothing_once_private(
    stack: Stack, alice: ApiClient, clips: dict[str, dict[str, Any]]
) -> None:
    asset_id = clips["silent"]["assetId"]
    alice.patch(f"/assets/{asset_id}", {"visibility": "public", "title": 'alice\'s "silent" <clip>'})
    page_url = f"{stack.outputs['apiUrl']}/watch/{asset_id}"
    status, headers, body = fetch(page_url)  # no token: a link-preview crawler
    html = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    tags = dict(re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', html))
    assert tags["og:title"] == "alice&#x27;s &quot;silent&quot; &lt;clip&gt;" and "<clip>" not in html
    assert tags["og:image"] == f"{page_url}/poster.jpg" and tags["twitter:card"] == "summary_large_image"
    status, headers, _ = fetch(tags["og:image"])
    assert status == 302
    with urllib.request.urlopen(tags["og:image"], timeout=30) as poster:  # the redirect, followed
        assert poster.read(3) == b"\xff\xd8\xff"  # a JPEG
    with urllib.request.urlopen(tags["og:video"], timeout=30) as preview:
        assert preview.read(12)[4:8] == b"ftyp"  # an MP4

    alice.patch(f"/assets/{asset_id}", {"visibility": "private"})
    for url in (page_url, tags["og:image"], f"{stack.outputs['apiUrl']}/watch/01kzzzzzzzzzzzzzzzzzzzzzzz"):
        assert fetch(url)[0] == 404
    assert "silent" not in fetch(page_url)[2].decode()
