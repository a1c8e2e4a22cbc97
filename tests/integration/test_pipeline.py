"""The pipeline end to end on the local cloud: generated media uploaded through the API as a phone
would, S3 events, the state machine, real FFmpeg, DynamoDB and SNS (read through an SQS queue)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from reelstack_cli.api_client import ApiClient
from reelstack_cli.media import ffprobe, generate_audio, generate_clip, generate_image
from reelstack_cli.settings import CHECKOUT
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset
from tests.integration.conftest import Stack

pytestmark = pytest.mark.localcloud


@dataclass
class Case:
    make: Callable[[Path], Path]
    expected: str  # "ready" or the failure code
    asset: dict[str, Any] = field(default_factory=dict)


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return write


def _truncated(path: Path) -> Path:
    whole = generate_clip(path.with_name("whole.mp4"), seconds=4, width=640, height=360)
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    return path


PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://169.254.169.254/latest/meta-data/\n#EXT-X-ENDLIST\n"
CONCAT = b"ffconcat version 1.0\nfile '/etc/passwd'\n"

CASES = {
    "landscape-1080p-with-audio": Case(lambda p: generate_clip(p, seconds=4, width=1920, height=1080), "ready"),
    "portrait-with-rotation": Case(lambda p: generate_clip(p, seconds=3, width=1280, height=720, rotation=90), "ready"),
    "video-without-audio": Case(lambda p: generate_clip(p, seconds=3, width=854, height=480, audio=False), "ready"),
    "audio-only": Case(lambda p: generate_audio(p.with_suffix(".m4a"), seconds=4), "ready"),
    "variable-frame-rate": Case(lambda p: generate_clip(p, seconds=3, variable_frame_rate=True), "ready"),
    "truncated": Case(_truncated, "Truncated"),
    "random-bytes-named-mp4": Case(_bytes(bytes(range(256)) * 2000), "NotMedia"),
    "hls-playlist-disguised": Case(_bytes(PLAYLIST), "NotMedia"),
    "concat-script-disguised": Case(_bytes(CONCAT), "NotMedia"),
    "image-only": Case(generate_image, "NotMedia"),
}


def upload(api: ApiClient, path: Path, state: Path) -> dict[str, Any]:
    content_type = "audio/mp4" if path.suffix == ".m4a" else "video/mp4"
    return Uploader(api, "alice", state=StateStore(state)).upload(path, content_type=content_type, resume="never")


@pytest.fixture(scope="module")
def processed(
    stack: Stack, alice: ApiClient, events_queue: Callable[[], list[dict[str, Any]]], tmp_path_factory: Any
) -> dict[str, Case]:
    """Every case uploaded at once, then waited for (the pipeline runs them side by side)."""
    folder = tmp_path_factory.mktemp("media")
    events_queue()

    def run(item: tuple[str, Case]) -> None:
        name, case = item
        path = case.make(folder / f"{name}.mp4")
        uploaded = upload(alice, path, folder / "state")
        case.asset = wait_for_asset(alice, uploaded["assetId"], timeout=240)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, CASES.items()))
    time.sleep(1)  # SNS -> SQS delivery
    events_queue()
    return CASES


def events_for(drain: Callable[[], list[dict[str, Any]]], asset_id: str, kind: str) -> list[dict[str, Any]]:
    return [event for event in drain() if event["assetId"] == asset_id and event["type"] == kind]


def download_prefix(stack: Stack, prefix: str, target: Path) -> list[str]:
    s3, bucket = stack.client("s3"), stack.outputs["mediaBucket"]
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            keys.append(item["Key"])
            local = target / item["Key"][len(prefix) :]
            local.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(local))
    return keys


def probe_json(path: Path, *extra: str) -> dict[str, Any]:
    command = [ffprobe(), "-v", "error", *extra, "-of", "json", "-show_streams", "-show_format", str(path)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


READY = [name for name, case in CASES.items() if case.expected == "ready"]
FAILED = [name for name, case in CASES.items() if case.expected != "ready"]


@pytest.mark.parametrize("name", READY)
def test_playable_sources_become_ready_hls(
    name: str, processed: dict[str, Case], stack: Stack, tmp_path: Path, events_queue: Any
) -> None:
    asset = processed[name].asset
    assert asset["status"] == "ready", asset.get("error")
    keys = download_prefix(stack, f"assets/{asset['assetId']}/", tmp_path)
    master = (tmp_path / "hls" / "master.m3u8").read_text()
    stream_lines = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(stream_lines) == len(asset["renditions"])
    media = asset["media"]
    for line, rendition in zip(stream_lines, asset["renditions"], strict=True):
        assert "BANDWIDTH=" in line
        assert f'CODECS="{rendition["codecs"]}"' in line
        folder = tmp_path / "hls" / rendition["name"]
        playlist = (folder / "index.m3u8").read_text()
        durations = [float(value) for value in re.findall(r"#EXTINF:([\d.]+)", playlist)]
        assert all(abs(duration - 6) < 0.1 for duration in durations[:-1]), durations
        assert abs(sum(durations) - media["durationSeconds"]) < 0.5
        # ffprobe reads the rendition through its playlist (HLS over local files only).
        streams = probe_json(folder / "index.m3u8", "-protocol_whitelist", "file", "-allowed_extensions", "ALL")[
            "streams"
        ]
        kinds = sorted(stream["codec_type"] for stream in streams)
        if media["hasVideo"]:
            assert f"RESOLUTION={rendition['width']}x{rendition['height']}" in line
            video = next(stream for stream in streams if stream["codec_type"] == "video")
            assert (video["codec_name"], video["profile"]) == ("h264", "High")
            assert (video["width"], video["height"]) == (rendition["width"], rendition["height"])
        assert kinds == (["audio"] if media["hasAudio"] else []) + (["video"] if media["hasVideo"] else [])
    if media["hasVideo"]:
        assert asset["renditions"][0]["height"] <= max(media["width"], media["height"])  # never upscaled
        poster = probe_json(tmp_path / "thumbnails" / "poster.jpg")["streams"][0]
        assert (poster["width"] > poster["height"]) == (media["width"] > media["height"])
        vtt = (tmp_path / "thumbnails" / "storyboard.vtt").read_text()
        assert vtt.startswith("WEBVTT") and "storyboard.jpg#xywh=" in vtt
        assert {"poster", "storyboard"} <= set(asset["thumbnails"])
        # The preview: muted, at most 4 s, small enough for a feed; the animated WebP decodes.
        preview = probe_json(tmp_path / "previews" / "preview.mp4")
        assert [stream["codec_type"] for stream in preview["streams"]] == ["video"]
        assert float(preview["format"]["duration"]) <= 4.1
        assert (tmp_path / "previews" / "preview.mp4").stat().st_size < 400_000
        with Image.open(tmp_path / "previews" / "preview.webp") as animated:
            assert animated.is_animated and animated.n_frames >= 10
        assert set(asset["previews"]) == {"video", "animated"}
    else:
        assert "thumbnails" not in asset
        assert not any("/thumbnails/" in key or "/previews/" in key for key in keys)
        assert asset["previews"] == {"video": None, "animated": None, "reason": "audio only: there is no picture"}
    assert asset["playback"]["hls"].startswith("http")
    ready = events_for(events_queue, asset["assetId"], "asset.ready")
    assert len(ready) == 1
    assert ready[0]["_attributeType"] == "asset.ready"
    assert ready[0]["ownerId"] == "alice"
    assert ready[0]["playback"]["hls"]
    assert set(ready[0]["previews"]) == set(asset["previews"])  # asset.ready carries the previews too


def test_portrait_video_comes_out_upright(processed: dict[str, Case]) -> None:
    asset = processed["portrait-with-rotation"].asset
    assert (asset["media"]["width"], asset["media"]["height"]) == (720, 1280)
    assert [(r["width"], r["height"]) for r in asset["renditions"]] == [(720, 1280), (480, 854), (360, 640)]


def test_audio_only_gets_one_audio_rendition(processed: dict[str, Case]) -> None:
    asset = processed["audio-only"].asset
    assert [(r["name"], r["codecs"]) for r in asset["renditions"]] == [("audio", "mp4a.40.2")]


@pytest.mark.parametrize("name", FAILED)
def test_what_is_not_playable_fails_with_a_clear_code_and_leaves_nothing(
    name: str, processed: dict[str, Case], stack: Stack, events_queue: Any
) -> None:
    asset = processed[name].asset
    assert asset["status"] == "failed"
    assert asset["error"]["code"] == processed[name].expected
    assert asset["error"]["message"]
    listing = stack.client("s3").list_objects_v2(
        Bucket=stack.outputs["mediaBucket"], Prefix=f"assets/{asset['assetId']}/"
    )
    assert listing.get("KeyCount", 0) == 0
    failed = events_for(events_queue, asset["assetId"], "asset.failed")
    assert len(failed) == 1
    assert failed[0]["error"]["code"] == processed[name].expected
    assert not events_for(events_queue, asset["assetId"], "asset.ready")


def test_a_zero_length_object_fails_with_a_clear_code(stack: Stack, alice: ApiClient, events_queue: Any) -> None:
    created = alice.post("/uploads", {"filename": "empty.mp4", "size": 1000, "contentType": "video/mp4"})
    key = stack.client("dynamodb").get_item(
        TableName=stack.outputs["uploadsTableName"], Key={"uploadId": {"S": created["uploadId"]}}
    )["Item"]["key"]["S"]
    stack.client("s3").put_object(Bucket=stack.outputs["uploadBucket"], Key=key, Body=b"")  # around the API
    asset = wait_for_asset(alice, created["assetId"], timeout=60)
    assert (asset["status"], asset["error"]["code"]) == ("failed", "SizeMismatch")
    time.sleep(1)
    assert len(events_for(events_queue, created["assetId"], "asset.failed")) == 1


def test_the_same_s3_event_twice_starts_one_execution(
    stack: Stack, alice: ApiClient, events_queue: Any, tmp_path: Path
) -> None:
    uploaded = upload(alice, generate_clip(tmp_path / "twice.mp4", seconds=2, width=640, height=360), tmp_path)
    wait_for_asset(alice, uploaded["assetId"], timeout=120)
    head = stack.client("dynamodb").get_item(
        TableName=stack.outputs["uploadsTableName"], Key={"uploadId": {"S": uploaded["uploadId"]}}
    )["Item"]
    event = json.loads((CHECKOUT / "events" / "ingest" / "object-created.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = stack.outputs["uploadBucket"]
    record["object"].update(key=head["key"]["S"], size=int(head["size"]["N"]), versionId=head["versionId"]["S"])
    lambda_client = stack.client("lambda")
    for _ in range(2):
        answer = lambda_client.invoke(FunctionName=stack.function_name("IngestFunction"), Payload=json.dumps(event))
        outcome = json.loads(answer["Payload"].read())
        # Powertools idempotency answers with the first delivery's outcome and does nothing again.
        assert outcome[0]["execution"].startswith(uploaded["assetId"])
    # A redelivery after the idempotency record is gone still meets the execution's fixed name.
    for item in stack.client("dynamodb").scan(TableName=stack.outputs["idempotencyTableName"])["Items"]:
        stack.client("dynamodb").delete_item(TableName=stack.outputs["idempotencyTableName"], Key={"id": item["id"]})
    answer = lambda_client.invoke(FunctionName=stack.function_name("IngestFunction"), Payload=json.dumps(event))
    assert json.loads(answer["Payload"].read())[0]["started"] is False
    executions = stack.client("stepfunctions").list_executions(stateMachineArn=stack.outputs["stateMachineArn"])
    assert sum(item["name"].startswith(uploaded["assetId"]) for item in executions["executions"]) == 1
    time.sleep(1)
    assert len(events_for(events_queue, uploaded["assetId"], "asset.ready")) == 1
    assert len(events_for(events_queue, uploaded["assetId"], "upload.completed")) == 1


@pytest.fixture
def transcode_fails_once(stack: Stack) -> Iterator[None]:
    with stack.function_environment("TranscodeFunction") as configure:
        configure({"FAULT_INJECTION": "transcode"})
        yield


def test_a_transient_failure_is_retried_and_announced_once(
    transcode_fails_once: None, stack: Stack, alice: ApiClient, events_queue: Any, tmp_path: Path
) -> None:
    uploaded = upload(alice, generate_clip(tmp_path / "retry.mp4", seconds=2, width=640, height=360), tmp_path)
    asset = wait_for_asset(alice, uploaded["assetId"], timeout=120)
    assert asset["status"] == "ready"
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.outputs["stateMachineArn"])["executions"]
    arn = next(item["executionArn"] for item in executions if item["name"].startswith(uploaded["assetId"]))
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    failures = [
        details["error"]
        for event in history
        for details in [event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails")]
        if details
    ]
    assert failures == ["InjectedFault"]
    time.sleep(1)
    assert len(events_for(events_queue, uploaded["assetId"], "asset.ready")) == 1
