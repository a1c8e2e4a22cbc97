"""Playback of private assets by stock players: token URLs, playlists served with presigned segments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

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
