"""The steps driven through their handlers with their sample events, on a real 2 s clip (moto; the pinned ffmpeg)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelstack import library, sharing
from reelstack.bodies import AssetChanges
from reelstack.errors import AssetGone
from reelstack.media import ffmpeg, hls
from reelstack.pipeline import steps
from reelstack.pipeline.failures import record_failure
from reelstack.pipeline.steps import upload_outputs
from reelstack.store.keys import MediaKeys
from reelstack.store.records import AssetModel
from reelstack.store.views import asset_view
from reelstack_cli import media as test_media
from tests.unit.conftest import MEDIA_BUCKET, load_handler
from tests.unit.pipeline.conftest import job_event, uploaded_clip


def test_the_steps_turn_the_clip_into_a_ready_asset(pipeline: dict[str, Any]) -> None:
    media_info = load_handler("probe")(job_event("probe/job.json", pipeline), None)
    assert (media_info["width"], media_info["height"], media_info["hasAudio"]) == (320, 180, True)
    assert AssetModel.get(pipeline["upload"].asset_id).status == "processing"

    plan = load_handler("plan")(job_event("plan/job-with-media.json", pipeline, media=media_info), None)
    assert [rendition["name"] for rendition in plan["renditions"]] == ["180p"]
    # Made beside the ladder by name (the Map's items); no download was asked for.
    assert plan["derivatives"] == {"fromSource": ["thumbnails", "previews"], "fromLadder": []}

    hls = load_handler("transcode")(
        job_event("transcode/job-with-plan.json", pipeline, media=media_info, plan=plan), None
    )
    thumbs = load_handler("derive")(job_event("derive/thumbnails.json", pipeline, media=media_info), None)
    made = load_handler("derive")(job_event("derive/previews.json", pipeline, media=media_info), None)
    keys = {item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET)["Contents"]}
    assert hls["master"] in keys and thumbs["poster"] in keys and thumbs["storyboard"]["vtt"] in keys
    assert made["video"] in keys and made["animated"] in keys
    assert made["bytes"]["preview.mp4"] < ffmpeg.PREVIEW_MAX_BYTES
    assert any(key.endswith(".m4s") for key in keys)

    done = job_event(
        "publish/job-with-outputs.json",
        pipeline,
        media=media_info,
        plan=plan,
        outputs={"hls": hls, "derived": [thumbs, made]},
    )
    assert load_handler("publish")(done, None)["announced"] is True
    assert load_handler("publish")(done, None)["announced"] is False  # a retried Publish says nothing twice
    asset = AssetModel.get(pipeline["upload"].asset_id)
    assert asset.status == "ready"
    assert asset.previews.as_dict() == {"video": made["video"], "animated": made["animated"]}
    types = [event["type"] for event in pipeline["events"]()]
    assert types.count("asset.ready") == 1
    assert types.count("asset.processing") == 1

    # Late repeats never take a playing video away: a step that uploads again after Publish keeps
    # its outputs, and a failure reported after Publish (a lost answer, then the Catch) removes nothing.
    before = boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET)["KeyCount"]
    load_handler("derive")(job_event("derive/thumbnails.json", pipeline, media=media_info), None)
    outcome = record_failure(asset.asset_id, "alice", "PipelineError", "a failure reported late")
    assert (outcome["removedObjects"], outcome["announced"]) == (0, False)
    assert AssetModel.get(asset.asset_id).status == "ready"
    assert boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET)["KeyCount"] == before


def test_a_source_that_lies_about_its_checksum_fails_probe(pipeline: dict[str, Any]) -> None:
    job = job_event("probe/job.json", pipeline)
    job["source"]["sha256"] = "0" * 64
    with pytest.raises(Exception, match="ChecksumMismatch") as failed:
        load_handler("probe")(job, None)
    assert type(failed.value).__name__ == "SourceMismatch"


def test_extras_that_could_not_be_made_become_warnings_not_failures(pipeline: dict[str, Any]) -> None:
    """Thumbnails failed for good (their Catch handed Publish the error) and the animated preview could
    not be made: the asset is ready with both said in a sentence, on the asset and in asset.ready."""
    asset_id = pipeline["upload"].asset_id
    load_handler("probe")(job_event("probe/job.json", pipeline), None)
    # Shared by its owner while it is processing: in the feed once Publish has made it ready.
    library.update_asset(AssetModel.get(asset_id).owner_id, asset_id, AssetChanges(visibility="public"))
    assert sharing.feed("https://api.example")["items"] == []
    outcome = load_handler("publish")(job_event("publish/job-with-failed-extras.json", pipeline), None)
    assert outcome["announced"] is True
    assert [item["assetId"] for item in sharing.feed("https://api.example")["items"]] == [asset_id]
    codes = [warning["code"] for warning in outcome["warnings"]]
    assert codes == ["NoThumbnails", "NoAnimatedPreview"]
    asset = AssetModel.get(asset_id)
    assert asset.status == "ready" and asset.thumbnails is None
    view = asset_view(asset)
    assert view["playable"] is True
    assert (
        view["warnings"][0]["message"]
        == "there are no thumbnails: FFmpeg ran out of time (280 s) to make the storyboard"
    )
    assert view["previews"]["animated"] is None and view["previews"]["video"].startswith("http")
    ready = [event for event in pipeline["events"]() if event["type"] == "asset.ready"]
    assert [warning["code"] for warning in ready[0]["warnings"]] == codes


def test_a_step_that_finishes_after_its_asset_failed_leaves_nothing(pipeline: dict[str, Any], tmp_path: Path) -> None:
    """A sibling branch failed and Record failure ran while this step was still writing: the step sees
    the asset failed after its upload, removes what it wrote and says so by name."""
    asset_id = pipeline["upload"].asset_id
    load_handler("probe")(job_event("probe/job.json", pipeline), None)
    record_failure(asset_id, "alice", "UnreadableMedia", "the file is damaged")
    (tmp_path / "poster.jpg").write_bytes(b"late")
    with pytest.raises(AssetGone, match="failed"):
        upload_outputs(asset_id, tmp_path, f"assets/{asset_id}/thumbnails/")
    assert boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET).get("KeyCount", 0) == 0


FAST_ENCODES = {
    # Encoded many times faster than they play: FFmpeg's playlist window (3 entries) moves on before a
    # watcher looks. Outside testers saw both fail on Lambda-like timing.
    "audio-only-m4a": lambda folder: test_media.generate_audio(folder / "tone.m4a", seconds=10),
    "one-fps-1080p": lambda folder: test_media.make_clip(
        folder / "one-fps.mp4", test_media.Clip(12, 1920, 1080, fps="1", gop_seconds=2, audio="none")
    ),
}


@pytest.mark.parametrize("make", FAST_ENCODES.values(), ids=FAST_ENCODES.keys())
def test_a_watcher_that_first_looks_after_ffmpeg_exited_publishes_every_segment_with_its_length(
    make: Callable[[Path], Path],
    aws: None,
    setenv: Callable[..., None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Transcode step with only its own layers (no ffprobe), and a watcher that first looks after
    FFmpeg has exited: every segment FFmpeg wrote is published, each with the length ffprobe measures."""
    pipeline = uploaded_clip(setenv, tmp_path, clip=make(tmp_path))
    monkeypatch.setattr(ffmpeg.runner, "WATCH_SECONDS", 3600.0)  # one look as FFmpeg starts, the next after it exits
    media_info = load_handler("probe")(job_event("probe/job.json", pipeline), None)
    plan = load_handler("plan")(job_event("plan/job-with-media.json", pipeline, media=media_info), None)
    load_handler("transcode")(job_event("transcode/job-with-plan.json", pipeline, media=media_info, plan=plan), None)

    s3, keys = boto3.client("s3"), MediaKeys(pipeline["upload"].asset_id)
    for rendition in plan["renditions"]:
        prefix = keys.rendition_prefix(rendition["name"])
        stored = {
            item["Key"][len(prefix) :] for item in s3.list_objects_v2(Bucket=MEDIA_BUCKET, Prefix=prefix)["Contents"]
        }
        playlist = (
            s3.get_object(Bucket=MEDIA_BUCKET, Key=keys.media_playlist(rendition["name"]))["Body"].read().decode()
        )
        listed = hls.playlist_segments(playlist)
        assert [name for name, _ in listed] == sorted(name for name in stored if name.endswith(".m4s"))
        assert len(listed) >= 4, "the clip should make more segments than FFmpeg's window keeps"
        init = s3.get_object(Bucket=MEDIA_BUCKET, Key=prefix + hls.playlist_init(playlist))["Body"].read()
        for name, seconds in listed:
            segment = s3.get_object(Bucket=MEDIA_BUCKET, Key=prefix + name)["Body"].read()
            assert seconds == pytest.approx(_ffprobe_seconds(tmp_path, init + segment), abs=0.001), name
        assert sum(seconds for _, seconds in listed) == pytest.approx(media_info["durationSeconds"], abs=0.15)
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST")


def _ffprobe_seconds(folder: Path, whole: bytes) -> float:
    """How long ffprobe (the tests' own, not the step's) says the first stream of init + segment plays."""
    path = folder / "measured.mp4"
    path.write_bytes(whole)
    found = subprocess.run(
        [test_media.ffprobe(), "-v", "error", "-select_streams", "0", "-show_entries",
         "packet=pts_time,duration_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    packets = [tuple(map(float, line.split(",")[:2])) for line in found]
    return max(pts + duration for pts, duration in packets) - min(pts for pts, _ in packets)


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv"])
def test_a_long_video_is_described_from_its_header_and_its_size_still_checked(
    container: str, aws: None, setenv: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone's MP4/MOV is described from a few range requests (its boxes but the media data), as the
    whole file would describe it; a Matroska file is read whole; a size that differs from the upload's
    is refused either way."""
    recipe = test_media.Clip(4, 1280, 720, container=container, faststart=container == "mp4", crf=18)
    clip = test_media.make_clip(tmp_path / f"long.{container}", recipe)
    world = uploaded_clip(setenv, tmp_path, clip=clip)
    assert world["size"] > steps.HEADER_READ_BYTES * 4
    whole_reads: list[str] = []
    download = steps.download_source
    monkeypatch.setattr(
        steps, "download_source", lambda job, work: whole_reads.append(job.asset_id) or download(job, work)
    )
    described = load_handler("probe")(job_event("probe/job.json", world), None)
    assert whole_reads == ([] if container in ("mp4", "mov") else [world["upload"].asset_id])
    assert (described["width"], described["height"], described["pixelFormat"]) == (1280, 720, "yuv420p")
    assert described["keyframeCount"] == 4 and described["durationSeconds"] == pytest.approx(4, abs=0.05)

    lying = job_event("probe/job.json", world)
    lying["source"]["size"] = world["size"] + 1
    with pytest.raises(Exception, match="SizeMismatch"):
        load_handler("probe")(lying, None)
