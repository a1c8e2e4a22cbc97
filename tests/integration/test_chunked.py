"""Chunked encoding on the local cloud: a clip that one encode could not finish within the chunk
function's timeout becomes ready through a Map of chunk Lambdas, and plays through its playback URL."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reelstack import config
from reelstack.media import render
from reelstack.media.ffmpeg import SHORT_SEGMENT_SECONDS
from reelstack.media.ladder import plan_ladder
from reelstack_cli import uploader
from reelstack_cli.api_client import ApiClient
from reelstack_cli.media import ffmpeg, ffprobe, generate_clip
from reelstack_cli.uploader import wait_for_asset
from tests.integration.conftest import Stack
from tests.integration.test_pipeline import events_for, upload

pytestmark = pytest.mark.localcloud
CHUNK_SECONDS = 6
SECONDS = 48  # 8 chunks: each far shorter than the chunk function's timeout, whatever the load


@pytest.fixture
def pinned_tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The layers' FFmpeg here, to time the one-piece encode as the transcode function would run it."""
    monkeypatch.setenv("FFMPEG_PATH", ffmpeg())
    monkeypatch.setenv("FFPROBE_PATH", ffprobe())
    config.deployment.cache_clear()
    yield
    config.deployment.cache_clear()


@contextmanager
def function_timeout(stack: Stack, logical_id: str, seconds: int) -> Iterator[None]:
    """A deployed function's timeout (as the ChunkTimeoutSeconds parameter sets it), restored after."""
    lambda_client, name = stack.client("lambda"), stack.function_name(logical_id)
    original = lambda_client.get_function_configuration(FunctionName=name)["Timeout"]

    def set_timeout(value: int) -> None:
        lambda_client.update_function_configuration(FunctionName=name, Timeout=value)
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.5})

    set_timeout(seconds)
    try:
        yield
    finally:
        set_timeout(original)


@pytest.mark.usefixtures("pinned_tools")
def test_a_clip_too_long_for_one_encode_is_made_in_chunks_and_plays(
    stack: Stack, alice: ApiClient, tmp_path: Path, events_queue: Callable[[], list[dict[str, Any]]]
) -> None:
    clip = generate_clip(tmp_path / "long.mp4", seconds=SECONDS, width=960, height=540)
    # What one encode of the whole clip takes here, in this run; the chunk function gets less.
    media = render.inspect(clip, lambda: 300, tmp_path)
    started = time.monotonic()
    render.encode_ladder(clip, media, plan_ladder(media), tmp_path / "whole", lambda: 300)
    whole_seconds = time.monotonic() - started
    shutil.rmtree(tmp_path / "whole")
    timeout = int(whole_seconds * 0.8)
    assert timeout < whole_seconds

    with (
        stack.function_environment("IngestFunction") as ingest,
        stack.function_environment("ProbeFunction") as probe_env,
        function_timeout(stack, "EncodeChunkFunction", timeout),
    ):
        ingest({"CHUNK_SECONDS": str(CHUNK_SECONDS), "CHUNK_CONCURRENCY": "2"})
        probe_env({"CHUNK_TIMEOUT_SECONDS": str(timeout)})
        uploaded = upload(alice, clip, tmp_path)
        asset = wait_for_asset(alice, uploaded["assetId"], timeout=300)
    assert asset["status"] == "ready", asset.get("error")

    # The execution went through the Map, one iteration per chunk.
    history = stack.execution_history(uploaded["assetId"])
    entered = [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]
    assert entered.count("Encode chunk") == SECONDS // CHUNK_SECONDS and "Transcode HLS ladder" not in entered
    verified = [json.loads(event["stateExitedEventDetails"]["output"]) for event in history
                if event.get("stateExitedEventDetails", {}).get("name") == "Verify source"]  # fmt: skip
    assert verified == [{"verified": True}]  # the declared SHA-256, on the whole file beside the chunks

    # Playable while the chunks were still encoding (the first chunk and the audio are published as
    # they encode), once, and before ready.
    playable = events_for(events_queue, uploaded["assetId"], "asset.playable")
    ready = events_for(events_queue, uploaded["assetId"], "asset.ready")
    assert len(playable) == 1 and len(ready) == 1 and playable[0]["occurredAt"] <= ready[0]["occurredAt"]
    chunks_done = [event["timestamp"] for event in history
                   if event.get("stateExitedEventDetails", {}).get("name") == "Encode chunk"]  # fmt: skip
    assert datetime.fromisoformat(playable[0]["occurredAt"].replace("Z", "+00:00")) < max(chunks_done)

    # Every segment every playlist names is in the media bucket, numbered without a gap.
    s3, bucket = stack.client("s3"), stack.outputs["mediaBucket"]
    prefix = f"assets/{uploaded['assetId']}/hls/"
    keys = {item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])}  # fmt: skip
    for rendition in [*asset["renditions"], {"name": "audio"}]:
        playlist = s3.get_object(Bucket=bucket, Key=f"{prefix}{rendition['name']}/index.m3u8")["Body"].read().decode()
        named = re.findall(r"^((?:start|segment)_\d+\.m4s)$", playlist, re.MULTILINE)
        named += re.findall(r'^#EXT-X-MAP:URI="([^"]+)"', playlist, re.MULTILINE)  # the init segment too
        assert named and {f"{prefix}{rendition['name']}/{name}" for name in named} <= keys
        if rendition["name"] != "audio":  # the first chunk's 6 s in short segments, then the 6 s grid
            short = [f"start_{n:05d}.m4s" for n in range(CHUNK_SECONDS // SHORT_SEGMENT_SECONDS)]
            assert named[:-1] == short + [f"segment_{n:05d}.m4s" for n in range(1, SECONDS // 6)]
    assert not [key for key in keys if "/work/" in key]

    # A stock HLS client plays it through the playback URL: every frame, with its sound.
    url = alice.get(f"/assets/{uploaded['assetId']}/playback")["hls"]
    command = [ffprobe(), "-v", "error", "-of", "json", "-count_frames", "-select_streams", "v:0",
               "-show_entries", "stream=nb_read_frames:format=duration", url]  # fmt: skip
    played = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert played.returncode == 0, played.stderr[-2000:]
    probed = json.loads(played.stdout)
    assert int(probed["streams"][0]["nb_read_frames"]) == SECONDS * 30
    assert abs(float(probed["format"]["duration"]) - SECONDS) < 0.5
    streams = subprocess.run([ffprobe(), "-v", "error", "-of", "json", "-show_streams", url],
                             capture_output=True, text=True, check=True, timeout=60).stdout  # fmt: skip
    assert {stream["codec_type"] for stream in json.loads(streams)["streams"]} == {"video", "audio"}


def test_a_long_video_whose_declared_checksum_lies_fails_by_name_and_leaves_nothing(
    stack: Stack, alice: ApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe source reads only a long MP4's header (its size checked); the whole file is held to the
    SHA-256 its upload declared beside the chunks (Verify source): a lie fails the asset by name,
    whatever was published goes, and the source stays where it was."""
    clip = generate_clip(tmp_path / "lie.mp4", seconds=12, width=640, height=360)
    monkeypatch.setattr(uploader, "file_sha256", lambda path: hashlib.sha256(b"another file").hexdigest())
    with stack.function_environment("IngestFunction") as ingest:
        ingest({"CHUNK_SECONDS": str(CHUNK_SECONDS), "CHUNK_CONCURRENCY": "2"})
        uploaded = upload(alice, clip, tmp_path)
        asset = wait_for_asset(alice, uploaded["assetId"], timeout=180)
    assert (asset["status"], asset["error"]["code"]) == ("failed", "ChecksumMismatch"), asset
    history = stack.execution_history(uploaded["assetId"])
    failed = [event["lambdaFunctionFailedEventDetails"] for event in history
              if "lambdaFunctionFailedEventDetails" in event]  # fmt: skip
    # The checksum's failure first (the thumbnails, which download the whole source, may say so too, a
    # warning); the encodes still running then find their asset failed and go.
    errors = [details["error"] for details in failed]
    assert errors[0] == "SourceMismatch" and set(errors) <= {"SourceMismatch", "AssetGone"}, failed
    entered = [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]
    assert "Verify source" in entered and "Encode chunk" in entered
    # A chunk still encoding when the asset failed removes what it wrote once it is done (its fence).
    s3, prefix = stack.client("s3"), f"assets/{uploaded['assetId']}/"
    deadline = time.monotonic() + 90
    while (left := s3.list_objects_v2(Bucket=stack.outputs["mediaBucket"], Prefix=prefix)["KeyCount"]) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    assert left == 0
    assert alice.get(f"/assets/{uploaded['assetId']}")["status"] == "failed"
