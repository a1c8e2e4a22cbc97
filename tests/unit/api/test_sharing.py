"""Public assets with the sample events: others' view, the feed, shared playback and its revocation,
the share page. (On the local cloud: tests/integration/test_feed.py.)"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from reelstack import sharing
from reelstack.api import playback
from reelstack.api.auth import issue_dev_token
from reelstack.store import assets
from reelstack.store.keys import MediaKeys
from reelstack.store.records import AssetModel
from reelstack.store.states import AssetStatus
from tests.unit.conftest import SAMPLE_EVENTS_SECRET, call, load_event, load_handler

MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=640x360\n360p/index.m3u8\n"
MEDIA = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6.0,\nsegment_00000.m4s\n#EXT-X-ENDLIST\n'


@pytest.fixture
def events(aws: None, setenv: Callable[..., None]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The deployment with a playback secret and an events topic; returns what the topic got so far."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="unit-events")["TopicArn"]
    queue = sqs.create_queue(QueueName="unit-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    setenv(PLAYBACK_SECRET="p" * 32, EVENTS_TOPIC_ARN=topic)

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    yield received


def ready_asset(title: str = "Sunset", user: str = "alice") -> str:
    """An uploaded asset the pipeline has made ready: playlists, a poster, previews."""
    asset_id = call("create-upload", user=user)[1]["assetId"]
    keys, s3 = MediaKeys(asset_id), boto3.client("s3")
    for key, text in [
        (keys.master_playlist, MASTER),
        (keys.media_playlist("360p"), MEDIA),
        (keys.poster, "jpeg"),
        (keys.preview_video, "mp4"),
    ]:
        s3.put_object(Bucket="unit-media-bucket", Key=key, Body=text.encode())
    AssetModel(asset_id).update(
        actions=[
            AssetModel.status.set(AssetStatus.READY),
            AssetModel.title.set(title),
            AssetModel.hls.set({"master": keys.master_playlist}),
            AssetModel.thumbnails.set({"poster": keys.poster}),
            AssetModel.previews.set({"video": keys.preview_video, "animated": keys.preview_animated}),
            AssetModel.media.set({"durationSeconds": 6.0, "width": 640, "height": 360, "hasVideo": True}),
        ]
    )
    sharing.list_in_feed(asset_id)  # as the publish step does once the asset is ready
    return asset_id


def set_visibility(asset_id: str, visibility: str, user: str = "alice") -> tuple[int, Any]:
    return call("update-asset", asset_id=asset_id, user=user, body={"visibility": visibility})


def feed_page(user: str, limit: int, cursor: str | None = None) -> tuple[int, Any]:
    event = load_event("api/feed.json")
    query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {key: [value] for key, value in query.items()}
    answer = call_event(event, user)
    return answer["statusCode"], json.loads(answer["body"])


def call_event(event: dict[str, Any], user: str | None = None) -> dict[str, Any]:
    if user is not None:
        event["headers"]["Authorization"] = f"Bearer {issue_dev_token(SAMPLE_EVENTS_SECRET, user)}"
    return load_handler("api")(event, None)


def whole_feed(user: str, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        status, page = feed_page(user, limit, cursor)
        assert status == 200 and len(page["items"]) <= limit
        seen += [item["assetId"] for item in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            return seen


def test_a_shared_asset_is_seen_by_others_in_its_public_view_and_nothing_else_is(events: Any) -> None:
    shared, private = ready_asset("Sunset <b>beach</b>"), ready_asset("Mine")
    assert call("get-asset", asset_id=shared, user="bob")[0] == 404  # private until its owner shares it

    status, mine = set_visibility(shared, "public")
    assert (status, mine["visibility"]) == (200, "public") and mine["madePublicAt"]
    status, seen = call("get-asset", asset_id=shared, user="bob")
    assert status == 200
    assert (seen["ownerId"], seen["title"], seen["visibility"], seen["status"]) == (
        "alice", "Sunset <b>beach</b>", "public", "ready"
    )  # fmt: skip
    assert "source" not in seen and "IMG_0042.MOV" not in json.dumps(seen)  # the file it came from
    base = f"http://localhost/_aws/execute-api/sampleapi/dev/watch/{shared}"
    # Pictures by the API's redirects, which end with the sharing (a presigned URL would live on).
    assert seen["thumbnails"] == {"poster": f"{base}/poster.jpg"}
    assert seen["previews"] == {"video": f"{base}/preview.mp4", "animated": f"{base}/preview.webp"}
    assert seen["playback"]["hls"] and "X-Amz" not in json.dumps(seen)
    assert call("get-asset", asset_id=shared)[1]["source"]["filename"] == "IMG_0042.MOV"  # the owner sees it all

    # Bob may look, and play, but not change or delete; alice's private asset does not exist for him.
    assert call("start-playback", asset_id=shared, user="bob")[0] == 200
    assert set_visibility(shared, "private", user="bob")[0] == 404
    assert call("delete-asset", asset_id=shared, user="bob")[0] == 404
    assert call("get-asset", asset_id=private, user="bob")[0] == 404
    assert call("start-playback", asset_id=private, user="bob")[0] == 404

    # Public but still processing: nobody else sees it yet.
    processing = call("create-upload")[1]["assetId"]
    AssetModel(processing).update(actions=[AssetModel.status.set(AssetStatus.PROCESSING)])
    set_visibility(processing, "public")
    assert call("get-asset", asset_id=processing, user="bob")[0] == 404
    assert whole_feed("bob", 10) == [shared]

    updates = [event for event in events() if event["type"] == "asset.updated"]
    assert {(event["assetId"], event["visibility"], event.get("previousVisibility")) for event in updates} == {
        (shared, "public", "private"),
        (processing, "public", "private"),
    }


def test_the_feed_pages_newest_made_public_first_each_asset_once(events: Any) -> None:
    made = [ready_asset(f"clip {n}", user=("alice", "carol")[n % 2]) for n in range(7)]
    private = made.pop(3)
    for asset_id in made:  # each made public a moment after the one before
        owner = AssetModel.get(asset_id).owner_id
        assert set_visibility(asset_id, "public", user=owner)[0] == 200
    newest_first = made[::-1]
    for limit in (1, 2, 4, 100):
        assert whole_feed("bob", limit) == newest_first, limit
    assert private not in whole_feed("alice", 3)

    items = feed_page("bob", 2)[1]["items"]
    assert [item["title"] for item in items] == ["clip 6", "clip 5"]
    for item in items:
        assert item["thumbnails"]["poster"] and item["previews"]["video"] and item["playback"]["hls"]
        assert item["media"]["durationSeconds"] == 6.0 and "source" not in item

    # Made private again: out at once, and made public later it is the newest.
    set_visibility(made[0], "private")
    assert made[0] not in whole_feed("bob", 2)
    set_visibility(made[0], "public")
    assert whole_feed("bob", 2)[0] == made[0]
    # Deleted: out at once.
    call("delete-asset", asset_id=made[1], user="carol")
    assert made[1] not in whole_feed("bob", 2)

    # A cursor from elsewhere, or a bad limit, is refused.
    own_cursor = call("list-assets")[1]["nextCursor"]
    assert feed_page("bob", 2, own_cursor)[1]["error"]["code"] == "InvalidCursor"
    assert feed_page("bob", 2, "bm90IGpzb24")[1]["error"]["code"] == "InvalidCursor"
    assert feed_page("bob", 0)[1]["error"]["code"] == "InvalidLimit"
    event = load_event("api/feed.json")
    event["headers"].pop("Authorization")
    assert call_event(event)["statusCode"] == 401


def test_the_feed_checks_every_index_entry_against_the_table(events: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index is eventually consistent: entries it still holds for an asset deleted, made private or
    made public again since are dropped, and the page fills from further down."""
    shared = [ready_asset(f"clip {n}") for n in range(4)]
    for asset_id in shared:
        set_visibility(asset_id, "public")
    stale = {asset_id: AssetModel.get(asset_id).made_public_at for asset_id in shared}
    call("delete-asset", asset_id=shared[3])
    set_visibility(shared[2], "private")
    set_visibility(shared[1], "private")
    set_visibility(shared[1], "public")  # newer now: its old entry is stale

    class StaleIndex:
        """What a lagging index returns: the entries as they were before the three changes."""

        def __init__(self, entries: list[tuple[str, str]]) -> None:
            self.entries, self.last_evaluated_key = entries, None

        def __iter__(self) -> Iterator[Any]:
            for asset_id, made_public_at in self.entries:
                yield AssetModel(asset_id, made_public_at=made_public_at, feed="public")

    def query(_partition: str, **kwargs: Any) -> StaleIndex:
        entries = sorted(stale.items(), key=lambda entry: entry[1], reverse=True)
        after = kwargs["last_evaluated_key"]
        if after:
            entries = [entry for entry in entries if entry[1] < after["madePublicAt"]["S"]]
        page = StaleIndex(entries[: kwargs["limit"]])
        if len(entries) >= kwargs["limit"]:  # DynamoDB gives a last key whenever the limit is reached
            asset_id, made_public_at = page.entries[-1]
            page.last_evaluated_key = {
                "assetId": {"S": asset_id}, "feed": {"S": "public"}, "madePublicAt": {"S": made_public_at}
            }  # fmt: skip
        return page

    monkeypatch.setattr(AssetModel.in_feed, "query", query)
    status, page = feed_page("bob", 2)
    assert status == 200 and [item["assetId"] for item in page["items"]] == [shared[0]]
    assert page["nextCursor"] is None


def test_index_entries_of_assets_that_are_no_longer_shared_are_dropped_by_the_real_index(events: Any) -> None:
    """Through moto's index: records that still carry the feed key although they are not shared (as a
    lagging index would have them) are read, checked against the table and left out, page after page."""
    shared = [ready_asset(f"clip {n}") for n in range(5)]
    for asset_id in shared:
        set_visibility(asset_id, "public")
    for asset_id in shared[1:4]:  # private, deleted or processing again, with the index entry left behind
        AssetModel(asset_id).update(actions=[AssetModel.visibility.set("private")])
    for limit in (1, 2, 3):
        assert whole_feed("bob", limit) == [shared[4], shared[0]], limit


def test_of_two_switches_at_once_the_later_one_wins(events: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A phone's "private" decided from a read taken before another phone's "public" landed: the write's
    condition fails, the switch is decided again from a fresh read, and the asset ends private and revoked."""
    asset_id = ready_asset()
    stale = AssetModel.get(asset_id)  # private, as the second phone read it
    assert set_visibility(asset_id, "public")[0] == 200  # the first phone's switch lands
    reads = iter([stale])
    real = assets.owned_asset
    monkeypatch.setattr(assets, "owned_asset", lambda owner, asset: next(reads, None) or real(owner, asset))
    status, answer = set_visibility(asset_id, "private")
    assert (status, answer["visibility"]) == (200, "private")
    record = AssetModel.get(asset_id, consistent_read=True)
    assert (record.visibility, record.playback_version, record.feed) == ("private", 1, None)
    assert whole_feed("bob", 5) == []


def test_shared_playback_is_the_same_for_every_viewer_and_going_private_revokes_it(
    events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten minutes into the last signing window, as the playback module sees the time, whenever the test
    # runs (a window ending between two calls would give two URLs).
    now = (time.time() // playback.SHARED_WINDOW_SECONDS - 1) * playback.SHARED_WINDOW_SECONDS + 600
    monkeypatch.setattr(playback, "time", SimpleNamespace(time=lambda: now))
    asset_id = ready_asset()
    personal = call("start-playback", asset_id=asset_id)[1]["hls"]
    set_visibility(asset_id, "public")
    bobs, carols = (call("start-playback", asset_id=asset_id, user=user)[1] for user in ("bob", "carol"))
    assert bobs == carols and bobs["hls"] != personal  # one URL for everyone within the window
    # It plays to the end of a long video asked for at the end of the window, and is the same all window long.
    assert seconds_left(bobs["expiresAt"], now) == playback.SHARED_WINDOW_SECONDS - 600 + playback.PLAYBACK_SECONDS
    token = token_of(bobs["hls"])

    master = served("master-playlist", token=token)
    assert (master["statusCode"], master["body"]) == (200, MASTER)
    assert master["headers"]["Cache-Control"] == f"public, max-age={playback.CDN_SECONDS}"
    media = served("media-playlist", token=token, rendition="360p")
    assert media["body"] == MEDIA  # as stored: its URIs lead to the segment route, the same for all
    segment = served("playback-segment", token=token, rendition="360p", segment="segment_00000.m4s")
    assert segment["statusCode"] == 302 and segment["headers"]["Cache-Control"].startswith("public")
    location = segment["headers"]["Location"]
    assert f"assets/{asset_id}/hls/360p/segment_00000.m4s" in location and "X-Amz-Expires=120" in location
    assert served("playback-segment", token=token, rendition="360p", segment="..%2Fmaster.m3u8")["statusCode"] == 404
    assert served("playback-segment", token=token, rendition="360p", segment="init.mp4")["statusCode"] == 302
    # The owner's personal URL of a private asset keeps its presigned playlists, never cached.
    private_media = served("media-playlist", token=token_of(personal), rendition="360p")
    assert "X-Amz-Signature=" in private_media["body"] and private_media["headers"]["Cache-Control"] == (
        "private, no-store"
    )

    set_visibility(asset_id, "private")
    for answer in (
        served("master-playlist", token=token),
        served("media-playlist", token=token, rendition="360p"),
        served("playback-segment", token=token, rendition="360p", segment="segment_00000.m4s"),
        served("master-playlist", token=token_of(personal)),  # every URL handed out before
    ):
        assert answer["statusCode"] == 403
        assert json.loads(answer["body"])["error"]["code"] == "PlaybackRevoked"
    assert call("start-playback", asset_id=asset_id, user="bob")[0] == 404
    fresh = call("start-playback", asset_id=asset_id)[1]["hls"]
    assert served("master-playlist", token=token_of(fresh))["statusCode"] == 200

    set_visibility(asset_id, "public")  # shared again: a new URL; the old one stays dead
    again = call("start-playback", asset_id=asset_id, user="bob")[1]["hls"]
    assert again != bobs["hls"] and served("master-playlist", token=token_of(again))["statusCode"] == 200
    assert served("master-playlist", token=token)["statusCode"] == 403


def test_the_share_page_previews_a_shared_asset_and_is_a_plain_404_otherwise(events: Any) -> None:
    asset_id = ready_asset('Sunset "at" <the> beach')
    page = watch(asset_id)
    assert page["statusCode"] == 404 and "not available" in page["body"] and "Sunset" not in page["body"]

    set_visibility(asset_id, "public")
    page = watch(asset_id)
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"].startswith("text/html")
    html = page["body"]
    tags = dict(re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', html))
    assert tags["og:title"] == "Sunset &quot;at&quot; &lt;the&gt; beach" and "<the>" not in html
    assert tags["og:image"] == f"http://localhost/_aws/execute-api/sampleapi/dev/watch/{asset_id}/poster.jpg"
    assert tags["twitter:card"] == "summary_large_image" and tags["og:video"].endswith("/preview.mp4")
    hls_url = re.search(r'data-hls="([^"]+)"', html).group(1)
    assert hls_url == call("start-playback", asset_id=asset_id, user="bob")[1]["hls"]

    poster = watch(asset_id, "poster.jpg")
    assert poster["statusCode"] == 302 and MediaKeys(asset_id).poster in poster["headers"]["Location"]
    assert watch(asset_id, "preview.mp4")["statusCode"] == 302
    assert watch(asset_id, "secrets.txt")["statusCode"] == 404

    set_visibility(asset_id, "private")
    assert watch(asset_id)["statusCode"] == 404 and watch(asset_id, "poster.jpg")["statusCode"] == 404
    unknown = watch("01kzzzzzzzzzzzzzzzzzzzzzzz")
    assert unknown["statusCode"] == 404 and unknown["body"] == watch(asset_id)["body"]
    assert watch("../../etc")["statusCode"] == 404


def token_of(url: str) -> str:
    return url.split("/playback/")[1].split("/")[0]


def seconds_left(iso_time: str, now: float) -> float:
    return datetime.fromisoformat(iso_time).timestamp() - now


def served(name: str, **parameters: str) -> dict[str, Any]:
    return load_handler("api")(load_event(f"api/{name}.json", **parameters), None)


def watch(asset_id: str, name: str | None = None) -> dict[str, Any]:
    if name is None:
        return load_handler("api")(load_event("api/watch-page.json", asset_id=asset_id), None)
    return load_handler("api")(load_event("api/watch-media.json", asset_id=asset_id, file=name), None)
