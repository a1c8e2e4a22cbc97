"""Derivatives (reelstack.derivatives): the registry the state machines run by name, and downloads made
from a real clip's published rendition by stream copy (moto; the pinned FFmpeg)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from reelstack import derivatives, library
from reelstack.bodies import AssetChanges
from reelstack.derivatives import downloads, pictures
from reelstack.derivatives.recipe import Needs
from reelstack.errors import Conflict, InvalidInput, MediaLimitExceeded, NotFound
from reelstack.media import hls
from reelstack.pipeline.job import Job
from reelstack.store.keys import MediaKeys
from reelstack.store.records import AssetModel
from reelstack.store.views import asset_view, attachment_name, plain, public_view
from reelstack_cli import media as test_media
from reelstack_cli.settings import CHECKOUT
from tests.media_cases import packet_durations, rgb_psnr
from tests.unit.conftest import MEDIA_BUCKET, load_handler
from tests.unit.pipeline.conftest import job_event, uploaded_clip


def test_every_derivative_declares_its_recipe_and_every_sample_event_names_one() -> None:
    for name, derivative in derivatives.REGISTRY.items():
        assert derivative.name == name and derivative.makes and derivative.warning and derivative.view_field
        assert all("/" in content_type for content_type in derivative.makes.values())
    assert derivatives.DOWNLOADS == ("highest", "audio", "small")
    for path in sorted((CHECKOUT / "events" / "derive").glob("*.json")):
        state = json.loads(path.read_text())
        derivative = derivatives.named(state["name"])
        if derivative.needs is Needs.SOURCE:
            Job.from_state(state).described()  # what a derivative of the source reads
    with pytest.raises(InvalidInput):
        derivatives.named("watermark")


def test_unknown_download_names_are_refused_by_name() -> None:
    assert derivatives.check_downloads(["audio", "highest", "audio"]) == ["audio", "highest"]
    with pytest.raises(InvalidInput, match="'4k'") as refused:
        derivatives.check_downloads(["highest", "4k"])
    assert refused.value.code == "UnknownDownload"


@pytest.mark.parametrize(
    ("title", "saved"),
    [("Sunset at the beach", "Sunset at the beach"), ("../../etc/passwd", "etc passwd"),
     ('Ünïcode: "x"\n<y>|z?', "Ünïcode x y z"), ("", "video"), ("...", "video"), ("a" * 300, "a" * 100)],
)  # fmt: skip
def test_a_download_is_saved_under_its_title_made_safe(title: str, saved: str) -> None:
    assert attachment_name(title, ".mp4") == f"{saved}.mp4"


def ready_asset(pipeline: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipeline's steps up to Publish (no extras): the job state and the plan's derivatives."""
    media = load_handler("probe")(job_event("probe/job.json", pipeline), None)
    plan = load_handler("plan")(job_event("plan/job-with-media.json", pipeline, media=media), None)
    made = load_handler("transcode")(job_event("transcode/job-with-plan.json", pipeline, media=media, plan=plan), None)
    done = job_event("publish/job-with-outputs.json", pipeline, media=media, plan=plan, outputs={"hls": made})
    load_handler("publish")(done, None)
    return done, plan["derivatives"]


def test_downloads_asked_for_at_upload_are_the_top_rendition_and_its_sound_by_stream_copy(
    aws: None, setenv: Callable[..., None], tmp_path: Path
) -> None:
    pipeline = uploaded_clip(setenv, tmp_path, seconds=2, downloads=["highest", "audio", "small"])
    asset_id = pipeline["upload"].asset_id
    _, planned = ready_asset(pipeline)
    assert planned["fromLadder"] == ["highest", "audio", "small"]
    ready = asset_view(AssetModel.get(asset_id))
    assert [(entry["name"], entry["status"]) for entry in ready["downloads"]] == [
        ("audio", "preparing"), ("highest", "preparing"), ("small", "preparing")
    ]  # fmt: skip
    derive = load_handler("derive")
    for name in planned["fromLadder"]:
        assert derive({"assetId": asset_id, "ownerId": "alice", "name": name}, None)["bytes"] > 0

    view = asset_view(AssetModel.get(asset_id))
    entries = {entry["name"]: entry for entry in view["downloads"]}
    assert entries["highest"]["status"] == entries["audio"]["status"] == "ready"
    assert (entries["highest"]["width"], entries["highest"]["height"]) == (320, 180)
    assert "width" not in entries["audio"]
    assert "response-content-disposition=attachment" in entries["highest"]["url"]
    s3, keys = boto3.client("s3"), MediaKeys(asset_id)
    rung = hls.playlist_segments(s3.get_object(Bucket=MEDIA_BUCKET, Key=keys.media_playlist("180p"))["Body"].read()
                                 .decode())  # fmt: skip
    joined = tmp_path / "rung.mp4"
    with joined.open("wb") as out:
        for name in ["init.mp4", *(segment for segment, _ in rung)]:
            out.write(s3.get_object(Bucket=MEDIA_BUCKET, Key=f"{keys.rendition_prefix('180p')}{name}")["Body"].read())
    mp4, m4a = tmp_path / "highest.mp4", tmp_path / "audio.m4a"
    s3.download_file(MEDIA_BUCKET, keys.download("highest.mp4"), str(mp4))
    s3.download_file(MEDIA_BUCKET, keys.download("audio.m4a"), str(m4a))
    assert packet_durations(mp4) == packet_durations(joined)  # the same frames and sound: copied, not encoded again
    assert packet_durations(m4a) == {"audio": packet_durations(joined)["audio"]}
    small = tmp_path / "small.mp4"  # the clip's one rung is 180p: under 480p, so it is the small one too
    s3.download_file(MEDIA_BUCKET, keys.download("small.mp4"), str(small))
    assert packet_durations(small) == packet_durations(joined)
    assert (entries["small"]["width"], entries["small"]["height"]) == (320, 180)
    assert mp4.read_bytes()[4:8] == b"ftyp" and mp4.read_bytes().find(b"moov") < mp4.read_bytes().find(b"mdat")
    assert entries["highest"]["bytes"] == mp4.stat().st_size
    # Each appeared with an asset.updated; the public view lists them only when the owner says so.
    updates = [event for event in pipeline["events"]() if event["type"] == "asset.updated"]
    assert sorted(event["download"]["name"] for event in updates) == ["audio", "highest", "small"]
    asset = AssetModel.get(asset_id)
    assert "downloads" not in public_view(asset, None, {})
    asset.update(actions=[AssetModel.public_downloads.set(True)])
    assert len(public_view(asset, None, {})["downloads"]) == 3


def test_a_download_asked_for_later_starts_for_a_ready_asset_only_and_only_for_its_owner(
    aws: None, setenv: Callable[..., None], tmp_path: Path
) -> None:
    pipeline = uploaded_clip(setenv, tmp_path, seconds=2)
    asset_id = pipeline["upload"].asset_id
    with pytest.raises(Conflict, match="ask for downloads when uploading"):
        derivatives.request_downloads("alice", asset_id, ["highest"])
    ready_asset(pipeline)
    with pytest.raises(NotFound):
        derivatives.request_downloads("mallory", asset_id, ["highest"])
    with pytest.raises(InvalidInput):
        derivatives.request_downloads("alice", asset_id, ["8k"])
    asset = derivatives.request_downloads("alice", asset_id, ["highest"])
    assert [(e["name"], e["status"]) for e in asset_view(asset)["downloads"]] == [("highest", "preparing")]
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=boto3.client(
        "stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"])["executions"]  # fmt: skip
    assert len(executions) == 1
    derivatives.request_downloads("alice", asset_id, ["highest", "audio"])  # highest is under way already
    assert len(boto3.client("stepfunctions").list_executions(stateMachineArn=executions[0]["stateMachineArn"])
               ["executions"]) == 2  # fmt: skip


def test_a_download_that_cannot_apply_or_is_too_large_fails_with_a_sentence(
    aws: None, setenv: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = test_media.make_clip(tmp_path / "silent.mp4", test_media.Clip(2, 320, 180, audio="none"))
    pipeline = uploaded_clip(setenv, tmp_path, clip=silent, downloads=["highest", "audio"])
    asset_id = pipeline["upload"].asset_id
    _, planned = ready_asset(pipeline)
    assert planned["fromLadder"] == ["highest"]
    monkeypatch.setattr(downloads, "MAX_RENDITION_BYTES", 1000)
    state = {"assetId": asset_id, "ownerId": "alice", "name": "highest"}
    with pytest.raises(MediaLimitExceeded, match="too long for a download") as refused:
        derivatives.derive(state, lambda: 60_000)
    # The Map's Catch hands the error to the same function, which records it on the entry.
    error = {"Error": "MediaLimitExceeded", "Cause": json.dumps({"errorMessage": str(refused.value)})}
    derivatives.derive({**state, "error": error}, lambda: 60_000)
    entries = {entry["name"]: entry for entry in asset_view(AssetModel.get(asset_id))["downloads"]}
    assert entries["audio"] == {"name": "audio", "status": "failed", "message": "this video has no sound"}
    assert entries["highest"]["status"] == "failed" and "10 GB disk" in entries["highest"]["message"]
    assert "url" not in entries["highest"]


def frame_scores(picture: Path, playlist: Path, moments: tuple[float, ...]) -> dict[float, float]:
    """How close ``picture`` is (PSNR, dB) to FFmpeg's own frame of the rendition at each moment."""
    scores = {}
    for moment in moments:
        frame = playlist.with_name(f"frame-{moment}.png")
        subprocess.run([test_media.ffmpeg(), "-v", "error", "-y", "-allowed_extensions", "ALL", "-i", str(playlist),
                        "-ss", str(moment), "-frames:v", "1", str(frame)], check=True)  # fmt: skip
        with Image.open(picture) as made, Image.open(frame) as shown:
            scores[moment] = rgb_psnr(made, shown.resize(made.size))
    return scores


def assert_frame_at(picture: Path, playlist: Path, moment: float, threshold: float) -> None:
    """``picture`` is the rendition's frame shown at ``moment``, not the one before or after it (30 fps)
    nor one 0.1 s away."""
    frame = 1 / 30
    scores = frame_scores(picture, playlist, (moment - 0.1, moment - frame, moment, moment + frame, moment + 0.1))
    others = max(score for at, score in scores.items() if at != moment)
    assert scores[moment] >= threshold and scores[moment] > others + 3, scores


def rendition_files(asset_id: str, rendition: str, folder: Path) -> Path:
    """The rendition's playlist and segments from the media bucket into ``folder``; its playlist."""
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=MEDIA_BUCKET, Prefix=MediaKeys(asset_id).rendition_prefix(rendition))
    for item in listed["Contents"]:
        s3.download_file(MEDIA_BUCKET, item["Key"], str(folder / item["Key"].rsplit("/", 1)[-1]))
    return folder / "index.m3u8"


def render(asset_id: str, picture: pictures.Picture, target: Path) -> str:
    """A picture on demand, as the API has the Derive function render it; its key."""
    state = {"assetId": asset_id, "ownerId": "alice", "name": "picture", "picture": picture.as_state()}
    key = load_handler("derive")(state, None)["key"]
    boto3.client("s3").download_file(MEDIA_BUCKET, key, str(target))
    return key


def test_the_cover_picked_and_a_thumbnail_on_demand_are_the_frame_at_that_moment(
    aws: None, setenv: Callable[..., None], tmp_path: Path
) -> None:
    """The test pattern moves every frame: the picture must be the rendition's own frame shown at
    7.5 s (FFmpeg's), closer to it than to the frames one either side or 0.1 s away. Measured on this
    clip: the JPEG cover scores 26 dB against that frame and at most 20 dB against the others; the PNG
    is that frame exactly (138 dB: no difference) and at most 20 dB from the others. 24 dB (JPEG) or
    40 dB (PNG), and a 3 dB lead, tell the right frame from its neighbours with room for JPEG's noise."""
    pipeline = uploaded_clip(setenv, tmp_path, seconds=8)
    asset_id = pipeline["upload"].asset_id
    with pytest.raises(Conflict):
        derivatives.check_cover("alice", asset_id, 7.5)
    ready_asset(pipeline)
    for seconds in (8.1, 9.0):  # the clip lasts 8.02 s (its sound)
        with pytest.raises(InvalidInput) as refused:
            derivatives.check_cover("alice", asset_id, seconds)
        assert refused.value.code == "InvalidPosterTime"
    with pytest.raises(NotFound):
        derivatives.check_cover("mallory", asset_id, 7.5)
    derivatives.check_cover("alice", asset_id, 7.5)
    library.update_asset("alice", asset_id, AssetChanges(posterTime=7.5))
    made = load_handler("derive")({"assetId": asset_id, "ownerId": "alice", "name": "cover"}, None)
    asset = AssetModel.get(asset_id)
    assert made["poster"].endswith("/poster-7500.jpg") and asset.thumbnails.as_dict()["poster"] == made["poster"]
    assert asset_view(asset)["posterTime"] == 7.5
    updates = [event for event in pipeline["events"]() if event["type"] == "asset.updated"]
    assert [event["posterTime"] for event in updates if "posterTime" in event] == [7.5]

    playlist = rendition_files(asset_id, "180p", tmp_path)
    cover = tmp_path / "cover.jpg"
    boto3.client("s3").download_file(MEDIA_BUCKET, made["poster"], str(cover))
    assert_frame_at(cover, playlist, 7.5, 24)

    # The same renderer on demand: the same moment as a PNG, and cropped into a square.
    still = pictures.parse("thumbnail.png", {"time": "7.5"}, 8.0)
    render(asset_id, still, tmp_path / "still.png")
    assert_frame_at(tmp_path / "still.png", playlist, 7.5, 40)
    square = pictures.parse("thumbnail.webp", {"time": "7.5", "width": "100", "height": "100", "fit": "crop"}, 8.0)
    key = render(asset_id, square, tmp_path / "square.webp")
    assert key == MediaKeys(asset_id).picture("thumbnail-t7.500-w100-h100-crop.webp")
    with Image.open(tmp_path / "square.webp") as picture:
        assert (picture.format, picture.size) == ("WEBP", (100, 100))


@pytest.mark.parametrize("kind", ["webp", "gif"])
def test_an_animation_on_demand_has_the_frames_its_length_and_rate_make(
    kind: str, aws: None, setenv: Callable[..., None], tmp_path: Path
) -> None:
    pipeline = uploaded_clip(setenv, tmp_path, seconds=5)
    ready_asset(pipeline)
    picture = pictures.parse(f"animated.{kind}", {"start": "1", "end": "4", "fps": "8", "width": "160"}, 5.0)
    render(pipeline["upload"].asset_id, picture, tmp_path / f"animated.{kind}")
    with Image.open(tmp_path / f"animated.{kind}") as animated:
        assert animated.is_animated and animated.size == (160, 90)
        assert animated.n_frames == 24, animated.n_frames  # 3 s at 8 fps


@pytest.mark.parametrize(
    ("file", "query", "says"),
    [("thumbnail.jpg", {"time": "10"}, "past the end"), ("thumbnail.jpg", {"time": "-1"}, "0 or more"),
     ("thumbnail.jpg", {"time": "nan"}, "0 or more"), ("thumbnail.jpg", {"width": "0"}, "1 to 1920"),
     ("thumbnail.jpg", {"height": "4000"}, "1 to 1920"), ("thumbnail.jpg", {"width": "1.5"}, "whole number"),
     ("thumbnail.jpg", {"fit": "zoom"}, "preserve, crop, pad, stretch"), ("thumbnail.jpg", {"fps": "10"}, "not fps"),
     ("animated.webp", {"start": "1", "end": "12"}, "at most 10 s"), ("animated.webp", {"start": "3", "end": "2"},
     "after"), ("animated.gif", {"fps": "240"}, "1 to 24"), ("animated.gif", {"width": "1280"}, "1 to 640"),
     ("animated.gif", {"start": "9.9", "end": "11"}, "past the end")],
)  # fmt: skip
def test_every_picture_parameter_is_checked_with_a_clear_sentence(file: str, query: dict, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as refused:
        pictures.parse(file, query, 10.0)
    assert refused.value.code == "InvalidPictureParameter"


def test_a_picture_is_named_by_its_normalised_parameters_and_an_unknown_one_is_not_found() -> None:
    same = pictures.parse("thumbnail.jpg", {"time": "7.5000", "width": "0320"}, 10.0)
    assert same.file_name == pictures.parse("thumbnail.jpg", {"width": "320", "time": "7.5"}, 10.0).file_name
    with pytest.raises(NotFound):
        pictures.parse("thumbnail.bmp", {}, 10.0)


def test_a_window_of_exactly_the_longest_length_is_allowed_wherever_it_starts() -> None:
    """0.351 + 10 is 10.350999... in floating point: 3,418 of the 60,000 millisecond starts of a
    minute were refused a 10 s window until the bound had a millisecond of slack (found by the bench)."""
    refused = [
        start
        for start in (round(0.001 * ms, 3) for ms in range(0, 50_000, 7))
        if not pictures.parse("animated.webp", {"start": f"{start}", "end": f"{round(start + 10, 3)}"}, 60.0)
    ]
    assert refused == []
    with pytest.raises(InvalidInput, match="at most 10 s"):
        pictures.parse("animated.webp", {"start": "0.351", "end": "10.353"}, 60.0)


def test_generated_captions_asked_for_at_upload_get_the_sound_as_16_khz_pcm_and_a_failure_fails_only_the_track(
    aws: None, setenv: Callable[..., None], tmp_path: Path
) -> None:
    pipeline = uploaded_clip(setenv, tmp_path, seconds=2, generatedCaptions={"languageCode": "en"})
    asset_id = pipeline["upload"].asset_id
    [(track_id, entry)] = plain(AssetModel.get(asset_id).text_tracks).items()
    assert (entry["source"], entry["status"], entry["name"]) == ("generated", "preparing", "English (generated)")
    _, planned = ready_asset(pipeline)
    assert planned["fromLadder"] == ["speech"]
    handed = load_handler("derive")({"assetId": asset_id, "ownerId": "alice", "name": "speech"}, None)
    work = handed["transcribe"]
    assert work["tracks"] == [{"trackId": track_id, "languageCode": "en"}]
    pcm = boto3.client("s3").get_object(Bucket=MEDIA_BUCKET, Key=work["audioKey"])["Body"].read()
    assert abs(len(pcm) / 32_000 - 2.0) < 0.1  # 16 kHz, one channel, two bytes a sample: the clip's 2 s
    # The Transcribe step failed for good (here: no model where the deployment says): the Catch hands the
    # error to the same function, which fails the track with the reason; the asset stays ready.
    error = {"Error": "ToolchainMissing", "Cause": json.dumps({"errorMessage": "ToolchainMissing: no speech model"})}
    load_handler("transcribe")({**handed, "error": error}, None)
    [failed] = [track for track in asset_view(AssetModel.get(asset_id))["tracks"] if track["trackId"] == track_id]
    assert failed["status"] == "failed" and failed["error"] == {
        "code": "ToolchainMissing",
        "message": "no speech model",
    }
    assert AssetModel.get(asset_id).status == "ready"
    announced, batch = [], pipeline["events"]()
    while batch:  # every event of the pipeline so far, ten at a time
        announced, batch = announced + batch, pipeline["events"]()
    assert [event["trackId"] for event in announced if event["type"] == "asset.track.failed"] == [track_id]
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET, Prefix=work["audioKey"])


def test_generated_captions_of_a_silent_video_fail_with_a_sentence_and_no_step_runs(
    aws: None, setenv: Callable[..., None], tmp_path: Path
) -> None:
    silent = test_media.make_clip(tmp_path / "silent.mp4", test_media.Clip(2, 320, 180, audio="none"))
    pipeline = uploaded_clip(setenv, tmp_path, clip=silent, generatedCaptions={"languageCode": "en"})
    _, planned = ready_asset(pipeline)
    assert planned["fromLadder"] == []
    [track] = asset_view(AssetModel.get(pipeline["upload"].asset_id))["tracks"]
    assert (track["status"], track["error"]["code"]) == ("failed", "NoSound")
    assert "no sound" in track["error"]["message"]
