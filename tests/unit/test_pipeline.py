"""The pipeline's rules and its handlers driven by the sample events (moto; the pinned ffmpeg/ffprobe)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from pynamodb.exceptions import UpdateError
from urllib3.exceptions import ProtocolError

from reelstack import aws, errors, ffmpeg
from reelstack.assets import asset_view
from reelstack.errors import AssetGone, MediaLimitExceeded, UnsupportedMedia
from reelstack.ladder import plan_ladder
from reelstack.media import MediaInfo, MediaLimits, StreamPackets, describe
from reelstack.models import AssetModel, UploadModel
from reelstack.pipeline import failure_from_state_error, record_failure, upload_outputs
from reelstack.uploads import Uploads
from reelstack_cli import media as test_media
from reelstack_cli.settings import CHECKOUT
from tests.unit.conftest import MEDIA_BUCKET, UPLOAD_BUCKET, load_event, load_handler


@pytest.fixture(autouse=True)
def pinned_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same FFmpeg and ffprobe builds as the layers, from the project's environment."""
    monkeypatch.setenv("FFMPEG_PATH", test_media.ffmpeg())
    monkeypatch.setenv("FFPROBE_PATH", test_media.ffprobe())


# -- describing a source -------------------------------------------------------------------------


def probe_json(streams: list[dict[str, Any]], container: str = "mov,mp4,m4a,3gp,3g2,mj2", duration: float = 10):
    return {"format": {"format_name": container, "duration": str(duration), "bit_rate": "1000"}, "streams": streams}


def describe_probe(probe: dict[str, Any]) -> MediaInfo:
    """describe() with a packet scan that saw ``nb_read_packets`` packets of each stream."""
    streams = [{**stream, "index": index} for index, stream in enumerate(probe["streams"])]
    scan = {index: StreamPackets(count=int(stream.get("nb_read_packets") or 0)) for index, stream in enumerate(streams)}
    return describe({**probe, "streams": streams}, scan)


VIDEO = {"codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080, "avg_frame_rate": "30/1",
         "r_frame_rate": "30/1", "nb_frames": "300", "nb_read_packets": "300"}  # fmt: skip
AUDIO = {"codec_type": "audio", "codec_name": "aac", "channels": 2, "nb_frames": "470", "nb_read_packets": "470"}


def test_rotation_swaps_the_displayed_size() -> None:
    rotated = {**VIDEO, "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}
    media = describe_probe(probe_json([rotated, AUDIO]))
    assert (media.width, media.height, media.rotation) == (1080, 1920, 90)


def test_variable_frame_rate_is_noticed() -> None:
    media = describe_probe(probe_json([{**VIDEO, "avg_frame_rate": "2700/113", "r_frame_rate": "30/1"}]))
    assert media.variable_frame_rate
    assert not media.has_audio


@pytest.mark.parametrize(
    ("probe", "error", "code"),
    [
        (probe_json([VIDEO], container="hls"), UnsupportedMedia, "NotMedia"),
        (probe_json([VIDEO], container="concat"), UnsupportedMedia, "NotMedia"),
        (probe_json([{**VIDEO, "codec_name": "png", "nb_frames": "1", "nb_read_packets": "1"}]), UnsupportedMedia,
         "ImageOnly"),
        (probe_json([{**VIDEO, "disposition": {"attached_pic": 1}}]), UnsupportedMedia, "ImageOnly"),
        (probe_json([{"codec_type": "data"}]), UnsupportedMedia, "NoMediaStreams"),
        (probe_json([{**VIDEO, "nb_read_packets": "100"}]), UnsupportedMedia, "Truncated"),
        (probe_json([VIDEO], duration=5 * 3600), MediaLimitExceeded, "TooLong"),
        (probe_json([VIDEO] + [AUDIO] * 16), MediaLimitExceeded, "TooManyStreams"),
        (probe_json([{**VIDEO, "width": 7680, "height": 4320}]), MediaLimitExceeded, "ResolutionTooHigh"),
        (probe_json([{**VIDEO, "avg_frame_rate": "480/1", "r_frame_rate": "480/1"}]), MediaLimitExceeded,
         "FrameRateTooHigh"),
        (probe_json([VIDEO], duration=0) | {"streams": [{**VIDEO, "duration": "0"}]}, UnsupportedMedia,
         "UnreadableDuration"),
    ],
)  # fmt: skip
def test_what_the_pipeline_refuses_before_decoding(probe: dict[str, Any], error: type, code: str) -> None:
    with pytest.raises(error) as refused:
        describe_probe(probe)
    assert refused.value.code == code


# -- the ladder ----------------------------------------------------------------------------------


def media(width: int, height: int, fps: str = "30/1", audio: bool = True, vfr: bool = False) -> MediaInfo:
    return MediaInfo(10, True, audio, width, height, frame_rate=fps, variable_frame_rate=vfr)


def sizes(info: MediaInfo) -> list[tuple[int, int]]:
    return [(rendition.width, rendition.height) for rendition in plan_ladder(info).renditions]


def test_a_1080p_source_gets_four_rungs_and_a_small_one_is_never_upscaled() -> None:
    assert sizes(media(1920, 1080)) == [(1920, 1080), (1280, 720), (854, 480), (640, 360)]
    assert sizes(media(1280, 720)) == [(1280, 720), (854, 480), (640, 360)]
    assert sizes(media(426, 240)) == [(426, 240)]


def test_portrait_gets_the_same_steps_upright() -> None:
    assert sizes(media(1080, 1920)) == [(1080, 1920), (720, 1280), (480, 854), (360, 640)]


def test_frame_rates_are_kept_up_to_60_and_vfr_becomes_constant() -> None:
    assert plan_ladder(media(1280, 720, "30000/1001")).frame_rate == "30000/1001"
    assert plan_ladder(media(1280, 720, "240/1")).frame_rate == "60/1"
    assert plan_ladder(media(1280, 720, "2700/113", vfr=True)).frame_rate == "24/1"
    high, normal = plan_ladder(media(1280, 720, "60/1")), plan_ladder(media(1280, 720))
    assert high.renditions[0].video_bitrate > normal.renditions[0].video_bitrate


def test_audio_only_and_silent_video() -> None:
    audio = plan_ladder(MediaInfo(10, False, True))
    assert audio.audio_only
    assert [(r.name, r.codecs) for r in audio.renditions] == [("audio", "mp4a.40.2")]
    silent = plan_ladder(media(1280, 720, audio=False))
    assert all("mp4a" not in r.codecs and r.audio_bitrate == 0 for r in silent.renditions)


def test_master_playlist_names_every_rendition_with_bandwidth_resolution_codecs() -> None:
    text = ffmpeg.master_playlist(plan_ladder(media(1280, 720)))
    lines = [line for line in text.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(lines) == 3
    assert all("BANDWIDTH=" in line and "RESOLUTION=" in line and 'CODECS="avc1.' in line for line in lines)


def test_the_storyboard_cues_cover_the_video() -> None:
    board = ffmpeg.plan_storyboard(25, 1920, 1080)
    vtt = board.vtt("storyboard.jpg", 25)
    assert vtt.startswith("WEBVTT")
    assert vtt.count("-->") == 25
    assert "00:00:24.000 --> 00:00:25.000" in vtt
    assert "storyboard.jpg#xywh=160,0,160,90" in vtt


def test_transcode_command_is_hardened_and_decodes_once() -> None:
    source = media(1920, 1080)
    command = ffmpeg.transcode_command(Path("source"), source, plan_ladder(source), Path("out"))
    assert command.count("-i") == 1
    assert command[command.index("-protocol_whitelist") + 1] == "file"
    assert "hls" not in command[command.index("-format_whitelist") + 1].split(",")
    assert "-nostdin" in command
    assert "split=2" in command[command.index("-filter_complex") + 1]


# -- the handlers with their sample events ---------------------------------------------------------


@pytest.fixture
def pipeline(aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """A declared and completed upload of a real 2 s clip in moto's S3, a topic and a state machine."""
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="unit-events")["TopicArn"]
    queue = boto3.client("sqs").create_queue(QueueName="unit-events")["QueueUrl"]
    queue_arn = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"], Attributes={"RawMessageDelivery": "true"}
    )
    monkeypatch.setenv("EVENTS_TOPIC_ARN", topic)
    machine = boto3.client("stepfunctions").create_state_machine(
        name="unit-pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/unit",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    from reelstack import config

    config.deployment.cache_clear()
    clip = test_media.generate_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=180)
    data = clip.read_bytes()
    uploads = Uploads()
    created = uploads.create(
        "alice", json.dumps({"filename": "clip.mp4", "size": len(data), "contentType": "video/mp4"})
    )
    upload = UploadModel.get(created["uploadId"])
    part = boto3.client("s3").upload_part(
        Bucket=UPLOAD_BUCKET, Key=upload.key, UploadId=upload.s3_upload_id, PartNumber=1, Body=data
    )
    uploads.complete("alice", created["uploadId"], json.dumps({"parts": [{"partNumber": 1, "etag": part["ETag"]}]}))
    upload.refresh()

    def events() -> list[dict[str, Any]]:
        messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return {"upload": upload, "size": len(data), "events": events}


def ingest_event(pipeline: dict[str, Any], name: str = "object-created.json") -> dict[str, Any]:
    event = load_event(f"ingest/{name}")
    record = event["Records"][0]["s3"]
    upload = pipeline["upload"]
    record["bucket"]["name"] = UPLOAD_BUCKET
    if name == "object-created.json":
        record["object"].update(key=upload.key, size=pipeline["size"], versionId=upload.version_id)
    return event


def job_event(name: str, pipeline: dict[str, Any], **replace: Any) -> dict[str, Any]:
    upload = pipeline["upload"]
    job = load_event(name)
    job.update(assetId=upload.asset_id, ownerId="alice", uploadId=upload.upload_id, **replace)
    job["source"].update(bucket=UPLOAD_BUCKET, key=upload.key, versionId=upload.version_id, size=pipeline["size"])
    return job


def test_ingest_starts_one_execution_per_object_version(pipeline: dict[str, Any]) -> None:
    handler = load_handler("ingest")
    first = handler(ingest_event(pipeline), None)
    assert first[0]["started"] is True
    assert handler(ingest_event(pipeline), None) == first  # redelivered: idempotency answers
    assert len(boto3.client("stepfunctions").list_executions(stateMachineArn=_machine())["executions"]) == 1
    assert [event["type"] for event in pipeline["events"]()] == ["upload.completed"]


def test_ingest_rejects_objects_no_upload_declared(pipeline: dict[str, Any]) -> None:
    outcome = load_handler("ingest")(ingest_event(pipeline, "object-without-upload.json"), None)
    assert outcome[0]["rejected"] == "NoUploadRecord"
    assert boto3.client("stepfunctions").list_executions(stateMachineArn=_machine())["executions"] == []
    assert [event["type"] for event in pipeline["events"]()] == ["upload.rejected"]


def _machine() -> str:
    import os

    return os.environ["STATE_MACHINE_ARN"]


def test_the_steps_turn_the_clip_into_a_ready_asset(pipeline: dict[str, Any]) -> None:
    media_info = load_handler("probe")(job_event("probe/job.json", pipeline), None)
    assert (media_info["width"], media_info["height"], media_info["has_audio"]) == (320, 180, True)
    assert AssetModel.get(pipeline["upload"].asset_id).status == "processing"

    plan = load_handler("plan")(job_event("plan/job-with-media.json", pipeline, media=media_info), None)
    assert [rendition["name"] for rendition in plan["renditions"]] == ["180p"]

    hls = load_handler("transcode")(
        job_event("transcode/job-with-plan.json", pipeline, media=media_info, plan=plan), None
    )
    thumbs = load_handler("thumbnails")(
        job_event("thumbnails/job-with-plan.json", pipeline, media=media_info, plan=plan), None
    )
    made = load_handler("previews")(
        job_event("previews/job-with-plan.json", pipeline, media=media_info, plan=plan), None
    )
    keys = {item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET)["Contents"]}
    assert hls["master"] in keys and thumbs["poster"] in keys and thumbs["storyboard"]["vtt"] in keys
    assert made["video"] in keys and made["animated"] in keys
    assert made["bytes"]["preview.mp4"] < ffmpeg.PREVIEW_MAX_BYTES
    assert any(key.endswith(".m4s") for key in keys)

    pictures = {"thumbnails": thumbs, "previews": made}
    done = job_event("publish/job-with-outputs.json", pipeline, media=media_info, plan=plan, outputs=[hls, pictures])
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
    load_handler("thumbnails")(job_event("thumbnails/job-with-plan.json", pipeline, media=media_info, plan=plan), None)
    outcome = record_failure(
        {"assetId": asset.asset_id, "ownerId": "alice"}, "PipelineError", "a failure reported late"
    )
    assert (outcome["removedObjects"], outcome["announced"]) == (0, False)
    assert AssetModel.get(asset.asset_id).status == "ready"
    assert boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET)["KeyCount"] == before


def test_a_source_that_lies_about_its_checksum_fails_probe(pipeline: dict[str, Any]) -> None:
    job = job_event("probe/job.json", pipeline)
    job["source"]["sha256"] = "0" * 64
    with pytest.raises(Exception, match="ChecksumMismatch") as failed:
        load_handler("probe")(job, None)
    assert type(failed.value).__name__ == "SourceMismatch"


@pytest.mark.parametrize(("event", "code"), [("caught-error.json", "NotMedia"), ("timeout.json", "PipelineTimeout")])
def test_record_failure_marks_the_asset_and_removes_partial_outputs(
    pipeline: dict[str, Any], event: str, code: str
) -> None:
    asset_id = pipeline["upload"].asset_id
    boto3.client("s3").put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/hls/720p/segment_00000.m4s", Body=b"x")
    job = load_event(f"record_failure/{event}")
    job.update(assetId=asset_id, ownerId="alice")
    outcome = load_handler("record_failure")(job, None)
    assert (outcome["code"], outcome["removedObjects"], outcome["announced"]) == (code, 1, True)
    asset = AssetModel.get(asset_id)
    assert (asset.status, asset.error.code) == ("failed", code)
    assert boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET).get("KeyCount", 0) == 0
    assert load_handler("record_failure")(job, None)["announced"] is False
    assert [event["type"] for event in pipeline["events"]()].count("asset.failed") == 1


def test_an_event_that_overtakes_complete_still_starts_once(aws: None, pipeline: dict[str, Any]) -> None:
    """S3 may announce the object before the API has recorded the completion: ingest does not care."""
    upload = pipeline["upload"]
    upload.update(actions=[UploadModel.status.set("uploading")])
    AssetModel(upload.asset_id).update(actions=[AssetModel.status.set("uploading")])
    outcome = load_handler("ingest")(ingest_event(pipeline), None)
    assert outcome[0]["started"] is True
    assert AssetModel.get(upload.asset_id).status == "uploaded"


def test_an_event_for_an_aborted_upload_is_rejected(pipeline: dict[str, Any]) -> None:
    upload = pipeline["upload"]
    upload.update(actions=[UploadModel.status.set("aborted")])
    outcome = load_handler("ingest")(ingest_event(pipeline), None)
    assert outcome[0]["rejected"] == "UploadNotActive"
    assert boto3.client("stepfunctions").list_executions(stateMachineArn=_machine())["executions"] == []
    rejected = pipeline["events"]()
    assert [(event["type"], event["error"]["code"]) for event in rejected] == [("upload.rejected", "UploadNotActive")]


def test_extras_that_could_not_be_made_become_warnings_not_failures(pipeline: dict[str, Any]) -> None:
    """Thumbnails failed for good (their Catch handed Publish the error) and the animated preview could
    not be made: the asset is ready with both said in a sentence, on the asset and in asset.ready."""
    asset_id = pipeline["upload"].asset_id
    load_handler("probe")(job_event("probe/job.json", pipeline), None)
    outcome = load_handler("publish")(job_event("publish/job-with-failed-extras.json", pipeline), None)
    assert outcome["announced"] is True
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
    record_failure({"assetId": asset_id, "ownerId": "alice"}, "UnreadableMedia", "the file is damaged")
    (tmp_path / "poster.jpg").write_bytes(b"late")
    with pytest.raises(AssetGone, match="failed"):
        upload_outputs(asset_id, tmp_path, f"assets/{asset_id}/thumbnails/")
    assert boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET).get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("error", "code", "sentence"),
    [
        ({"Error": "Sandbox.Timedout", "Cause": '{"errorMessage": "Task timed out after 900.00 seconds"}'},
         "PipelineTimeout", "processing took longer than the pipeline allows"),
        ({"Error": "KeyError", "Cause": '{"errorMessage": "\'renditions\'", "stackTrace": ["  File /var/task"]}'},
         "KeyError", "processing failed unexpectedly; the operators have the details"),
        ({"Error": "States.Runtime", "Cause": "An error occurred while executing the state 'Publish' (entered at"
          " the event id #42). The JSONPath '$.outputs[1]' could not be found in the input"},
         "Runtime", "processing failed unexpectedly; the operators have the details"),
        ({"Error": "UnsupportedMedia", "Cause": '{"errorMessage": "NotMedia: the file is not a video"}'},
         "NotMedia", "the file is not a video"),
    ],
)  # fmt: skip
def test_failures_outside_the_domain_reach_users_as_plain_sentences(error: dict, code: str, sentence: str) -> None:
    """Lambda's and Python's own words (request ids, paths, JSONPaths) stay in the log."""
    assert failure_from_state_error(error) == (code, sentence)


def test_failure_messages_are_sentences_about_the_file() -> None:
    """FFmpeg's stderr never reaches a client: each known complaint is one sentence, the rest a
    general one; memory addresses, paths and log prefixes stay in the function's log."""
    stderr = (
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d1c0] moov atom not found\n"
        "[in#0 @ 0x55d1] Error opening input: Invalid data found when processing input\n"
    )
    assert ffmpeg.explain(stderr, "read the file").code == "Truncated"
    decoding = (
        "[h264 @ 0x7f] error while decoding MB 3 4, bytestream -7\n[vist#0:0/h264 @ 0x5] Decode error rate 0.9 exceeds"
    )
    assert ffmpeg.explain(decoding, "encode the HLS ladder").code == "UnreadableMedia"
    for error in (ffmpeg.explain(stderr, "read the file"), ffmpeg.explain("Segmentation fault at 0x0", "do it")):
        assert "@" not in error.message and "0x" not in error.message and "\n" not in error.message


def test_a_picture_over_the_pixel_limit_is_named_so_by_the_real_ffmpeg(tmp_path: Path) -> None:
    """What this FFmpeg really prints for -max_pixels, not what we guess it prints."""
    clip = test_media.make_clip(tmp_path / "clip.mp4", test_media.Clip(0.2, 320, 240, audio="none"))
    command = [test_media.ffmpeg(), "-hide_banner", "-max_pixels", "1000", "-i", str(clip), "-f", "null", "-"]
    stderr = subprocess.run(command, capture_output=True, text=True).stderr
    assert ffmpeg.explain(stderr, "decode the video").code == "ResolutionTooHigh", stderr
    # A damaged header's "Picture size 0x0 is invalid" is not a big picture.
    assert ffmpeg.explain("[h264 @ 0x5] Picture size 0x0 is invalid\n", "decode").code != "ResolutionTooHigh"


# -- transient or verdict: one taxonomy ------------------------------------------------------------


def _client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)  # fmt: skip


@pytest.mark.parametrize(
    ("failure", "named"),
    [
        (_client_error("SlowDown", 503, "GetObject"), "StorageUnavailable"),
        (_client_error("InternalError", 500, "PutObject"), "StorageUnavailable"),
        (_client_error("ProvisionedThroughputExceededException", 400, "UpdateItem"), "StorageUnavailable"),
        (_client_error("ThrottlingException", 400, "StartExecution"), "ServiceUnavailable"),
        (_client_error("Throttling", 400, "Publish"), "ServiceUnavailable"),
        (_client_error("InternalFailure", 500, "Publish"), "ServiceUnavailable"),
        (IncompleteReadError(actual_bytes=2031616, expected_bytes=8117631), "StorageUnavailable"),
        (ResponseStreamingError(error=ProtocolError("Connection broken")), "StorageUnavailable"),
        (EndpointConnectionError(endpoint_url="http://s3"), "StorageUnavailable"),
        (ReadTimeoutError(endpoint_url="http://s3"), "StorageUnavailable"),
        (UpdateError("x", cause=_client_error("ThrottlingException", 400, "UpdateItem")), "StorageUnavailable"),
        (_client_error("NoSuchKey", 404, "GetObject"), None),
        (_client_error("AccessDenied", 403, "GetObject"), None),
        (_client_error("ValidationException", 400, "UpdateItem"), None),
        (UpdateError("x", cause=_client_error("ConditionalCheckFailedException", 400, "UpdateItem")), None),
        (ValueError("a bug"), None),
    ],
)
def test_aws_failures_are_named_transient_or_left_alone(failure: Exception, named: str | None) -> None:
    result = aws.as_named(failure)
    assert (type(result).__name__ if result else None) == named
    if result:
        assert result.transient and type(result).__name__ in errors.transient_names()
        assert "trying again" in result.message


def test_a_throttled_conditional_write_is_not_taken_for_already_moved() -> None:
    def throttled() -> None:
        raise UpdateError("x", cause=_client_error("ProvisionedThroughputExceededException", 400, "UpdateItem"))

    def refused() -> None:
        raise UpdateError("x", cause=_client_error("ConditionalCheckFailedException", 400, "UpdateItem"))

    assert aws.conditional(lambda: None, "the asset") is True
    assert aws.conditional(refused, "the asset") is False
    with pytest.raises(errors.StorageUnavailable):
        aws.conditional(throttled, "the asset")


def test_a_storyboard_out_of_time_costs_the_storyboard_not_the_poster(tmp_path: Path) -> None:
    """A long screen recording with one keyframe: the storyboard must decode every frame and may not
    finish in time. The poster is kept and the storyboard becomes a warning."""
    from reelstack import render

    clip = test_media.make_clip(tmp_path / "one-keyframe.mp4", test_media.Clip(3, 320, 240, gop_seconds=None))
    media = render.inspect(clip, lambda: 60, tmp_path)
    out = tmp_path / "thumbnails"
    out.mkdir()
    made = render.make_thumbnails(clip, media, out, lambda: render.STORYBOARD_MARGIN_SECONDS - 1)
    assert (out / "poster.jpg").stat().st_size > 0
    assert not (out / "storyboard.jpg").exists()
    assert [warning.code for warning in made.warnings] == ["NoStoryboard"]
    assert "time" in made.warnings[0].message


@pytest.mark.parametrize(
    ("duration", "interval", "count"),
    [(0.04, 1, 1), (2.0, 1, 2), (2.05, 1, 2), (100.0, 1, 100), (100.05, 1, 100), (100.2, 2, 51), (3600, 36, 100)],
)
def test_the_storyboard_has_a_tile_per_interval_and_no_tile_for_a_last_sliver(
    duration: float, interval: int, count: int
) -> None:
    board = ffmpeg.plan_storyboard(duration, 1920, 1080)
    assert (board.interval_seconds, board.count) == (interval, count)
    assert (board.tile_width, board.tile_height) == (160, 90)
    assert ffmpeg.plan_storyboard(duration, 64, 48).tile_width == 64  # never upscaled


# -- executions that end without their Catch -------------------------------------------------------


def ended_event(name: str, asset_id: str, execution: str) -> dict[str, Any]:
    event = json.loads(
        (CHECKOUT / "events" / "execution_ended" / name).read_text().replace("01kbbbbbbbbbbbbbbbbbbbbbbb", asset_id)
    )
    event["detail"]["executionArn"] = execution
    return event


@pytest.mark.parametrize(("name", "code"), [("aborted.json", "PipelineStopped"), ("timed-out.json", "PipelineTimeout")])
def test_an_execution_that_ends_without_its_catch_fails_its_asset_once(
    pipeline: dict[str, Any], name: str, code: str
) -> None:
    asset_id = pipeline["upload"].asset_id
    execution = f"arn:aws:states:us-east-1:123456789012:execution:unit-pipeline:{asset_id}-0123456789abcdef"
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(execution)])
    s3 = boto3.client("s3")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/hls/360p/segment_00000.m4s", Body=b"x")
    pipeline["events"]()
    outcome = load_handler("execution_ended")(ended_event(name, asset_id, execution), None)
    assert (outcome["code"], outcome["announced"], outcome["removedObjects"]) == (code, True, 1)
    asset = AssetModel.get(asset_id)
    assert (asset.status, asset.error.code) == ("failed", code)
    assert " " in asset.error.message and "arn:" not in asset.error.message
    assert load_handler("execution_ended")(ended_event(name, asset_id, execution), None)["announced"] is False
    assert [event["type"] for event in pipeline["events"]()] == ["asset.failed"]


def test_an_ended_execution_leaves_deleted_ready_and_other_executions_assets_alone(pipeline: dict[str, Any]) -> None:
    asset_id = pipeline["upload"].asset_id
    mine = f"arn:aws:states:us-east-1:123456789012:execution:unit-pipeline:{asset_id}-0123456789abcdef"
    s3 = boto3.client("s3")
    pipeline["events"]()
    # Another execution owns the asset: not this one's business.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(mine + "0")])
    assert "ignored" in load_handler("execution_ended")(ended_event("aborted.json", asset_id, mine), None)
    # Deleted while processing (a delete stops the execution): not a failure to announce, but what a
    # late step wrote afterwards goes.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("deleted"), AssetModel.execution_arn.set(mine)])
    s3.put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/thumbnails/poster.jpg", Body=b"late")
    outcome = load_handler("execution_ended")(ended_event("aborted.json", asset_id, mine), None)
    assert (outcome["announced"], outcome["removedObjects"]) == (False, 1)
    assert AssetModel.get(asset_id).status == "deleted"
    # Ready: the outputs are live.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("ready")])
    s3.put_object(Bucket=MEDIA_BUCKET, Key=f"assets/{asset_id}/hls/master.m3u8", Body=b"#EXTM3U")
    outcome = load_handler("execution_ended")(ended_event("timed-out.json", asset_id, mine), None)
    assert (outcome["announced"], outcome["removedObjects"]) == (False, 0)
    assert AssetModel.get(asset_id).status == "ready"
    assert pipeline["events"]() == []


def test_the_sweeper_settles_an_asset_whose_execution_ended_unnoticed(pipeline: dict[str, Any]) -> None:
    """The backstop for an EventBridge event that never came: still processing, execution over."""
    asset_id = pipeline["upload"].asset_id
    sfn = boto3.client("stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    job = json.dumps({"assetId": asset_id, "ownerId": "alice"})
    execution = sfn.start_execution(stateMachineArn=machine, name=f"{asset_id}-0123456789abcdef", input=job)
    execution = execution["executionArn"]
    running_too = sfn.start_execution(stateMachineArn=machine, name="other-running")["executionArn"]
    sfn.stop_execution(executionArn=execution)
    old = "2020-01-01T00:00:00.000Z"
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(execution),
                                         AssetModel.updated_at.set(old)])  # fmt: skip
    pipeline["events"]()
    event = load_event("upload_sweeper/hourly.json")
    assert load_handler("upload_sweeper")(event, None)["settled"][0]["code"] == "PipelineStopped"
    assert AssetModel.get(asset_id).status == "failed"
    assert [event["type"] for event in pipeline["events"]()] == ["asset.failed"]
    # A running execution's asset is left alone, however old.
    AssetModel(asset_id).update(actions=[AssetModel.status.set("processing"), AssetModel.execution_arn.set(running_too),
                                         AssetModel.updated_at.set(old)])  # fmt: skip
    assert load_handler("upload_sweeper")(event, None)["settled"] == []
    assert AssetModel.get(asset_id).status == "processing"


def test_what_the_header_shows_is_refused_before_the_packet_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over the limits is not read to its end: the header is enough to refuse it."""
    from reelstack import render
    from tests.media_cases import BY_NAME

    scans: list[Path] = []
    scan_command = ffmpeg.packet_scan_command
    monkeypatch.setattr(ffmpeg, "packet_scan_command", lambda source: scans.append(source) or scan_command(source))
    for name, code in (("seventeen-audio-streams", "TooManyStreams"), ("pixel-bomb-12-megapixels", "ResolutionTooHigh"),
                       ("frame-rate-1000fps", "FrameRateTooHigh")):  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises((MediaLimitExceeded, UnsupportedMedia)) as refused:
            render.inspect(BY_NAME[name].make(folder), lambda: 60, folder)
        assert refused.value.code == code
    assert scans == []
    short = test_media.make_clip(tmp_path / "short.mp4", test_media.Clip(1, 160, 120, audio="none"))
    with pytest.raises(MediaLimitExceeded, match="at most 0 minutes"):
        render.inspect(short, lambda: 60, tmp_path, MediaLimits(max_duration_seconds=0.5))
    assert scans == []
