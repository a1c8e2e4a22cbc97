"""Playback of private assets by stock players: token URLs, playlists served with presigned segments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from reelstack.media import hls
from reelstack.store.keys import MediaKeys
from reelstack.store.records import AssetModel
from tests.unit.conftest import call, load_event, load_handler


def test_playback_needs_a_ready_asset_and_a_valid_token(aws: None, setenv: Callable[..., None]) -> None:
    setenv(PLAYBACK_SECRET="p" * 32)
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


def test_a_rendition_done_before_the_others_is_served_open_without_a_short_tail_until_ready(
    aws: None, setenv: Callable[..., None]
) -> None:
    """A chunked video's audio is encoded long before its chunks and ends in 21 ms of sound: while the
    video still grows, players get it without #EXT-X-ENDLIST and without that tail (Shaka Player would
    reload every playlist each 21 ms); a last segment of half the target duration or more stays listed.
    Once the asset is ready, the playlist as stored."""
    setenv(PLAYBACK_SECRET="p" * 32)
    asset_id = call("create-upload")[1]["assetId"]
    keys = MediaKeys(asset_id)
    s3 = boto3.client("s3")

    def store(*seconds: float) -> None:
        segments = [(f"segment_{n:05d}.m4s", length) for n, length in enumerate(seconds)]
        s3.put_object(Bucket="unit-media-bucket", Key=keys.media_playlist("audio"),
                      Body=hls.event_playlist(segments, "init.mp4", 6, ended=True).encode())  # fmt: skip

    s3.put_object(Bucket="unit-media-bucket", Key=keys.master_playlist, Body=b"#EXTM3U\n360p/index.m3u8\n")
    AssetModel(asset_id).update(
        actions=[AssetModel.status.set("processing"), AssetModel.playable.set(True),
                 AssetModel.hls.set({"master": keys.master_playlist}), AssetModel.published_chunks.set(2)]
    )  # fmt: skip
    token = call("start-playback", asset_id=asset_id)[1]["hls"].split("/playback/")[1].split("/")[0]

    def served() -> tuple[list[tuple[str, float]], bool]:
        event = load_event("api/media-playlist.json", token=token, rendition="audio")
        text = load_handler("api")(event, None)["body"]
        names = [(name.split("?")[0].rsplit("/", 1)[1], seconds) for name, seconds in hls.playlist_segments(text)]
        return names, "#EXT-X-ENDLIST" in text

    first = [("segment_00000.m4s", 6.016), ("segment_00001.m4s", 5.994667)]
    store(6.016, 5.994667, 0.021333)
    assert served() == (first, False)
    store(6.016, 5.994667, 3.0)
    assert served() == ([*first, ("segment_00002.m4s", 3.0)], False)
    store(6.016, 5.994667, 0.021333)
    AssetModel(asset_id).update(actions=[AssetModel.status.set("ready")])
    assert served() == ([*first, ("segment_00002.m4s", 0.021333)], True)


def test_a_playable_asset_plays_before_it_is_ready_on_the_playlists_its_chunks_published(
    aws: None, setenv: Callable[..., None]
) -> None:
    """Processing and playable: a playback URL, and the media playlist of as many chunks as are
    published (the joined one once it is ready); a processing asset that is not playable has none."""
    setenv(PLAYBACK_SECRET="p" * 32)
    asset_id = call("create-upload")[1]["assetId"]
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing")])
    assert call("start-playback", asset_id=asset_id)[1]["error"]["code"] == "NotReady"
    s3, keys = boto3.client("s3"), MediaKeys(asset_id)

    def playlist_of(segments: int, ended: bool) -> bytes:
        return hls.event_playlist(
            [(f"segment_{n:05d}.m4s", 6.0) for n in range(segments)], "init.mp4", 6, ended
        ).encode()

    s3.put_object(Bucket="unit-media-bucket", Key=keys.master_playlist, Body=b"#EXTM3U\n720p/index.m3u8\n")
    s3.put_object(Bucket="unit-media-bucket", Key=keys.partial_playlist("720p", 1), Body=playlist_of(1, False))
    s3.put_object(Bucket="unit-media-bucket", Key=keys.partial_playlist("720p", 2), Body=playlist_of(2, False))
    AssetModel(asset_id).update(
        actions=[AssetModel.playable.set(True), AssetModel.hls.set({"master": keys.master_playlist}),
                 AssetModel.published_chunks.set(1)]
    )  # fmt: skip
    status, body = call("start-playback", asset_id=asset_id)
    assert status == 200
    token = body["hls"].split("/playback/")[1].split("/")[0]
    asset = call("get-asset", asset_id=asset_id)[1]
    assert asset["playable"] is True and asset["status"] == "processing" and asset["playback"]["hls"]

    def served() -> str:
        event = load_event("api/media-playlist.json", token=token, rendition="720p")
        return load_handler("api")(event, None)["body"]

    assert served().count(".m4s?") == 1 and "#EXT-X-ENDLIST" not in served()
    AssetModel(asset_id).update(actions=[AssetModel.published_chunks.set(2)])
    assert served().count(".m4s?") == 2  # it grew
    s3.put_object(Bucket="unit-media-bucket", Key=keys.media_playlist("720p"), Body=playlist_of(3, True))
    s3.delete_object(Bucket="unit-media-bucket", Key=keys.partial_playlist("720p", 2))  # the join's clean-up
    assert served().count(".m4s?") == 3 and "#EXT-X-ENDLIST" not in served()  # open until it is ready
    AssetModel(asset_id).update(actions=[AssetModel.status.set("ready")])
    assert served().count(".m4s?") == 3 and "#EXT-X-ENDLIST" in served()
    AssetModel(asset_id).update(actions=[AssetModel.status.set("failed")])
    event = load_event("api/media-playlist.json", token=token, rendition="720p")
    assert load_handler("api")(event, None)["statusCode"] == 403  # no longer playable
