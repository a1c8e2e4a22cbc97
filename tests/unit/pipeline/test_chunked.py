"""Chunked encoding through the handlers with their sample events (moto; the pinned ffmpeg): probe,
plan in chunks, every chunk (in any order, one retried), the audio, the join, Publish."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelstack.store.records import AssetModel
from tests.unit.conftest import MEDIA_BUCKET, load_handler
from tests.unit.pipeline.conftest import job_event


def _keys() -> set[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET)
    return {item["Key"] for item in listed.get("Contents", [])}


def test_a_long_clip_is_encoded_in_chunks_and_published_as_one_ladder(
    long_pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch, setenv: Callable[..., None]
) -> None:
    setenv(FAULT_INJECTION="transcode")  # the first chunk to start fails once
    asset_id = long_pipeline["upload"].asset_id
    media = load_handler("probe")(job_event("probe/job.json", long_pipeline), None)
    plan = load_handler("plan")(job_event("plan/job-with-media.json", long_pipeline, media=media, chunkSeconds=6), None)
    assert [(c["startSeconds"], c["firstSegment"]) for c in plan["chunks"]] == [(0, 0), (6, 1)]

    state = job_event("encode_chunk/second-chunk.json", long_pipeline, media=media, plan=plan)
    encode = load_handler("encode_chunk")
    with pytest.raises(Exception, match="InjectedFault"):  # the second chunk finishes first, after a failure
        encode({**state, "chunk": plan["chunks"][1]}, None)
    assert encode({**state, "chunk": plan["chunks"][1]}, None)["chunk"] == 1  # its Retry, alone
    assert encode({**state, "chunk": plan["chunks"][0]}, None)["chunk"] == 0
    audio = load_handler("encode_audio")(job_event("encode_audio/chunked-job.json", long_pipeline, media=media,
                                                   plan=plan), None)  # fmt: skip
    assert f"assets/{asset_id}/work/chunk-00001.json" in _keys()

    joined = load_handler("join_chunks")(
        job_event("join_chunks/chunked-job.json", long_pipeline, media=media, plan=plan, chunked={"audio": audio}),
        None,
    )
    keys = _keys()
    assert not [key for key in keys if "/work/" in key]  # the reports are gone with the join
    # The first chunk starts with short segments, named apart from the others' 6 s grid.
    assert {f"assets/{asset_id}/hls/180p/start_0000{n}.m4s" for n in range(3)} <= keys
    assert {f"assets/{asset_id}/hls/180p/segment_0000{n}.m4s" for n in (1, 2)} <= keys
    assert f"assets/{asset_id}/hls/audio/index.m3u8" in keys
    assert joined["master"].endswith("master.m3u8") and joined["objects"] >= len(keys) - 1

    done = job_event("publish/job-with-outputs.json", long_pipeline, media=media, plan=plan,
                     outputs={"hls": joined, "pictures": {}})  # fmt: skip
    assert load_handler("publish")(done, None)["announced"] is True
    asset = AssetModel.get(asset_id)
    assert asset.status == "ready" and [r["name"] for r in asset.renditions] == ["180p"]
    # Captions go on the chunks' timeline: the first frame is shown 1 s in (TIMELINE_OFFSET_SECONDS), plus
    # x264's two frames of B-frame delay (measured 1.0667 s; 0.0667 s for a one-piece encode or copy).
    assert 1.0 <= float(asset.hls["timelineSeconds"]) < 1.2


def test_a_video_a_chunk_could_not_finish_is_refused_at_the_probe(
    long_pipeline: dict[str, Any], setenv: Callable[..., None], tmp_path: Path
) -> None:
    setenv(CHUNK_TIMEOUT_SECONDS="0.05")
    with pytest.raises(Exception, match="TooLong") as refused:
        load_handler("probe")(job_event("probe/job.json", long_pipeline, chunkSeconds=6), None)
    assert type(refused.value).__name__ == "MediaLimitExceeded"
    assert "ChunkSeconds" in str(refused.value)


def test_verify_source_holds_the_whole_source_to_its_declared_checksum(long_pipeline: dict[str, Any]) -> None:
    """Beside the chunks (Probe source read only a long MP4's header): the declared SHA-256 is checked
    on the whole object; a lie fails the step by name (the asset fails, Record failure removes what the
    chunks published); without a declared one there is nothing to read."""
    verify = load_handler("verify_source")
    state = job_event("verify_source/chunked-job.json", long_pipeline)
    state["source"]["sha256"] = hashlib.sha256(long_pipeline["clip"].read_bytes()).hexdigest()
    assert verify(state, None) == {"verified": True}
    state["source"]["sha256"] = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(Exception, match="ChecksumMismatch") as failed:
        verify(state, None)
    assert type(failed.value).__name__ == "SourceMismatch"
    del state["source"]["sha256"]
    assert verify(state, None) == {"verified": False}
