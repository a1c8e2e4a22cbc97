"""Caption and subtitle tracks on an asset (reelstack.derivatives.captions): added inline or by a
presigned PUT whose arrival is read, removed, announced, and played as WebVTT renditions (moto)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelstack.derivatives import captions
from reelstack.media import captions as captions_format
from reelstack.store.keys import CaptionUploadKey, MediaKeys
from reelstack.store.records import AssetModel
from reelstack.store.views import plain
from reelstack_cli import media as test_media
from tests.unit.conftest import MEDIA_BUCKET, UPLOAD_BUCKET, call, load_event, load_handler
from tests.unit.pipeline.conftest import job_event, uploaded_clip

MASTER = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=320x180\n180p/index.m3u8\n"
LATIN_1_SRT = "1\n00:00:01,000 --> 00:00:02,000\nÇa déménage à Noël\n\n2\n00:00:13,000 --> 00:00:20,000\nfin\n"


@pytest.fixture
def ready(aws: None, setenv: Callable[..., None]) -> str:
    """A ready 14 s asset of alice's (its master written, on a timeline that starts at 1 s), and a topic
    whose messages a queue keeps."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="unit-events")["TopicArn"]
    queue = sqs.create_queue(QueueName="unit-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    setenv(EVENTS_TOPIC_ARN=topic, PLAYBACK_SECRET="p" * 32)
    asset_id = call("create-upload")[1]["assetId"]
    keys = MediaKeys(asset_id)
    boto3.client("s3").put_object(Bucket=MEDIA_BUCKET, Key=keys.master_playlist, Body=MASTER.encode())
    AssetModel(asset_id).update(actions=[
        AssetModel.status.set("ready"), AssetModel.media.set({"durationSeconds": 14.0, "hasVideo": True}),
        AssetModel.hls.set({"master": keys.master_playlist, "timelineSeconds": 1.0}),
    ])  # fmt: skip
    return asset_id


def events_of(kind: str) -> list[dict[str, Any]]:
    queue = boto3.client("sqs").get_queue_url(QueueName="unit-events")["QueueUrl"]
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [body for body in (json.loads(message["Body"]) for message in messages) if body["type"] == kind]


def add(asset_id: str, user: str | None = None, **body: Any) -> tuple[int, Any]:
    return call("add-track", asset_id=asset_id, user=user, body=body)


def served(name: str, **parameters: str) -> dict[str, Any]:
    return load_handler("api")(load_event(f"api/{name}.json", **parameters), None)


def test_captions_given_inline_are_ready_at_once_clean_announced_and_in_the_owners_view(ready: str) -> None:
    status, track = add(ready, languageCode="fre", content="WEBVTT\n\n00:01.000 --> 00:02.000\n<script>x</script>Salut")
    assert status == 201
    assert {key: track[key] for key in ("type", "languageCode", "name", "kind", "source", "status")} == {
        "type": "text", "languageCode": "fr", "name": "French", "kind": "subtitles", "source": "uploaded",
        "status": "ready",
    }  # fmt: skip
    stored = boto3.client("s3").get_object(Bucket=MEDIA_BUCKET, Key=MediaKeys(ready).text_track(track["trackId"]))
    assert stored["Body"].read().decode() == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nSalut\n\n"
    [announced] = events_of("asset.track.ready")
    assert announced["trackId"] == track["trackId"] and announced["track"]["status"] == "ready"
    view = call("get-asset", asset_id=ready)[1]
    assert [entry["trackId"] for entry in view["tracks"]] == [track["trackId"]]


def test_bad_captions_get_a_sentence_and_nothing_is_kept(ready: str) -> None:
    for content, code in (("just some words", "NotCaptions"), ("1\n10:00:00,000 --> 10:00:01,000\nlate\n", "NoCues"),
                          ("\x00\x01binary", "NotCaptions")):  # fmt: skip
        status, body = add(ready, languageCode="en", content=content)
        assert (status, body["error"]["code"]) == (400, code), body
    late = add(ready, languageCode="en", content="10:00:00.000 --> 10:00:01.000\nx")[1]
    assert "after its end at 00:00:14.000" in late["error"]["message"]
    assert add(ready, languageCode="english!", content="x")[0] == 400
    assert add(ready, languageCode="en", content="00:01.000 --> 00:02.000\nok \udcff")[1]["error"]["code"] == (
        "InvalidField"  # JSON's lone surrogate: not text
    )
    odd = add(ready, languageCode="en", name="bad \udcff", content="00:01.000 --> 00:02.000\nok")[1]
    assert (odd["name"], odd["status"]) == ("bad \ufffd", "ready")
    call("delete-track", asset_id=ready, track_id=odd["trackId"])
    assert add(ready, languageCode="en", content="x", filename="x.srt")[1]["error"]["code"] == "InvalidField"
    assert not plain(AssetModel.get(ready).text_tracks)  # the good one above was removed again
    assert not boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET, Prefix=f"assets/{ready}/tracks/").get("Contents")


def test_someone_elses_asset_is_404_whatever_the_body(ready: str) -> None:
    assert add(ready, user="mallory", languageCode="en", content="00:01.000 --> 00:02.000\nhi")[0] == 404
    assert add(ready, user="mallory", nonsense=True)[0] == 404
    track = add(ready, languageCode="en", content="00:01.000 --> 00:02.000\nhi")[1]
    assert call("delete-track", user="mallory", asset_id=ready, track_id=track["trackId"])[0] == 404


def arrive(asset_id: str, track_id: str, data: bytes) -> list[dict[str, Any]]:
    """What S3 and the Ingest function do when the client PUTs ``data`` to the track's uploadUrl."""
    key = str(CaptionUploadKey("alice", asset_id, track_id))
    put = boto3.client("s3").put_object(Bucket=UPLOAD_BUCKET, Key=key, Body=data)
    event = load_event("ingest/caption-file.json")
    event["Records"][0]["s3"]["bucket"]["name"] = UPLOAD_BUCKET
    event["Records"][0]["s3"]["object"].update(key=key, size=len(data), versionId=put["VersionId"])
    return load_handler("ingest")(event, None)


def test_a_file_sent_to_its_upload_url_is_read_when_it_arrives_in_any_encoding(ready: str) -> None:
    status, track = add(ready, languageCode="fr", name="Français", filename="film.fr.srt")
    assert status == 201 and track["status"] == "preparing" and track["uploadMethod"] == "PUT"
    assert f"captions/alice/{ready}/{track['trackId']}" in track["uploadUrl"]
    [outcome] = arrive(ready, track["trackId"], LATIN_1_SRT.encode("latin-1"))
    assert outcome["status"] == "ready"
    [entry] = call("get-asset", asset_id=ready)[1]["tracks"]
    assert (entry["status"], entry["name"]) == ("ready", "Français")
    vtt = boto3.client("s3").get_object(Bucket=MEDIA_BUCKET, Key=MediaKeys(ready).text_track(track["trackId"]))
    assert vtt["Body"].read().decode() == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nÇa déménage à Noël\n\n00:00:13.000 --> 00:00:14.000\nfin\n\n"
    )  # UTF-8, cut at the video's end
    kept = boto3.client("s3").list_object_versions(Bucket=UPLOAD_BUCKET, Prefix="captions/")
    assert not kept.get("Versions") and not kept.get("DeleteMarkers")  # the file as sent is not kept, in any version
    assert arrive(ready, track["trackId"], b"again")[0]["ignored"]  # ready already: a second PUT changes nothing


def test_a_file_that_is_not_captions_fails_its_track_with_the_reason(ready: str) -> None:
    track = add(ready, languageCode="en", filename="movie.srt")[1]
    arrive(ready, track["trackId"], b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    [entry] = call("get-asset", asset_id=ready)[1]["tracks"]
    assert entry["status"] == "failed" and entry["error"]["code"] == "NotCaptions"
    assert "binary data" in entry["error"]["message"]
    [announced] = events_of("asset.track.failed")
    assert announced["trackId"] == track["trackId"] and announced["track"]["error"]["code"] == "NotCaptions"
    shared = call("update-asset", asset_id=ready, body={"visibility": "public"})[1]
    assert shared["tracks"][0]["status"] == "failed"
    assert "tracks" not in call("get-asset", user="bob", asset_id=ready)[1]  # others see ready tracks only


def test_a_removed_track_goes_with_its_webvtt_and_audio_tracks_stay(ready: str) -> None:
    track = add(ready, languageCode="en", content="00:01.000 --> 00:02.000\nhi")[1]
    AssetModel(ready).update(actions=[AssetModel.audio_tracks.set([{"trackId": "audio", "type": "audio"}])])
    assert call("delete-track", asset_id=ready, track_id="audio")[1]["error"]["code"] == "TrackNotRemovable"
    assert call("delete-track", asset_id=ready, track_id=track["trackId"])[0] == 204
    assert call("delete-track", asset_id=ready, track_id=track["trackId"])[1]["error"]["code"] == "TrackNotFound"
    assert [entry["trackId"] for entry in call("get-asset", asset_id=ready)[1]["tracks"]] == ["audio"]
    assert not boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET, Prefix=f"assets/{ready}/tracks/").get("Contents")
    [updated] = events_of("asset.updated")
    assert updated["changes"] == {"tracks": [track["trackId"]]}


def test_ready_text_tracks_are_subtitle_renditions_of_the_next_master_loaded(ready: str) -> None:
    token = call("start-playback", asset_id=ready)[1]["hls"].split("/playback/")[1].split("/")[0]
    assert served("master-playlist", token=token)["body"] == MASTER  # no tracks: the master as stored
    english = add(ready, languageCode="en", content="00:00:05.500 --> 00:00:07.000\nacross the cut")[1]
    french = add(ready, languageCode="fr", kind="captions", content="1\n00:00:01,000 --> 00:00:02,000\nBonjour\n")[1]
    preparing = add(ready, languageCode="de", filename="de.srt")[1]
    master = served("master-playlist", token=token)["body"]
    assert (
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,'
        f'FORCED=NO,URI="{english["trackId"]}/index.m3u8"'
    ) in master
    assert 'NAME="French",LANGUAGE="fr"' in master and "CHARACTERISTICS=" in master
    assert preparing["trackId"] not in master
    assert '#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=320x180,SUBTITLES="subs"\n180p/index.m3u8' in master
    playlist = served("media-playlist", token=token, rendition=english["trackId"])
    assert playlist["body"].count("#EXTINF:6.000,") == 2 and "#EXTINF:2.000,\nsegment_00002.vtt" in playlist["body"]
    for index in (0, 1):  # the cue spans the cut at 6 s: in both segments
        name = f"segment_0000{index}.vtt"
        answer = served("playback-segment", token=token, rendition=english["trackId"], segment=name)
        assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"].startswith("text/vtt")
        assert answer["body"].startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000\n\n")
        assert "00:00:05.500 --> 00:00:07.000\nacross the cut" in answer["body"]
    past = served("playback-segment", token=token, rendition=english["trackId"], segment="segment_00003.vtt")
    assert past["statusCode"] == 404
    assert served("playback-segment", token=token, rendition=preparing["trackId"], segment="segment_00000.vtt")[
        "statusCode"] == 404  # fmt: skip
    call("delete-track", asset_id=ready, track_id=french["trackId"])
    assert french["trackId"] not in served("master-playlist", token=token)["body"]


def test_the_track_limit_and_a_failed_asset(ready: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(captions, "MAX_TEXT_TRACKS", 1)
    assert add(ready, languageCode="en", filename="a.srt")[0] == 201
    assert add(ready, languageCode="fr", filename="b.srt")[1]["error"]["code"] == "TooManyTracks"
    AssetModel(ready).update(actions=[AssetModel.status.set("failed")])
    assert add(ready, languageCode="fr", filename="b.srt")[1]["error"]["code"] == "AssetFailed"


def test_a_track_added_before_the_video_is_probed_is_cut_when_played(ready: str) -> None:
    AssetModel(ready).update(actions=[AssetModel.media.remove()])
    track = add(ready, languageCode="en", content="00:01.000 --> 00:02.000\nhi\n\n00:30.000 --> 00:31.000\nlate")[1]
    assert track["status"] == "ready"  # the length is not known yet: nothing to cut to
    AssetModel(ready).update(actions=[AssetModel.media.set({"durationSeconds": 14.0})])
    token = call("start-playback", asset_id=ready)[1]["hls"].split("/playback/")[1].split("/")[0]
    playlist = served("media-playlist", token=token, rendition=track["trackId"])["body"]
    assert playlist.count("segment_") == 3 and "#EXTINF:2.000,\nsegment_00002.vtt" in playlist  # 6 + 6 + 2 s

    def segment(index: int) -> dict[str, Any]:
        return served("playback-segment", token=token, rendition=track["trackId"], segment=f"segment_{index:05d}.vtt")

    assert "00:00:01.000 --> 00:00:02.000\nhi" in segment(0)["body"]
    assert all("late" not in segment(index)["body"] for index in (0, 1, 2))  # the cue at 30 s is past the end
    assert segment(5)["statusCode"] == 404  # where it would have been played


ENGLISH_SRT = (
    "1\n00:00:00,500 --> 00:00:01,200\n<font color=red>Hello</font>\n\n2\n00:00:01,200 --> 00:00:05,000\nover\n"
)
FRENCH_SRT = "1\n00:00:00,500 --> 00:00:01,200\nBonjour\n"


def test_the_sources_text_subtitles_become_tracks_played_on_the_segments_timeline(
    aws: None, setenv: Callable[..., None], tmp_path: Path
) -> None:
    """An MKV with an English and a French SubRip track: two ready tracks with their languages and
    titles, made beside the ladder; once the asset is ready the master offers both, each segment on
    the timeline its fMP4 segments start on (measured at Publish)."""
    video = test_media.generate_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=180)
    tracks = [(ENGLISH_SRT, "eng", None), (FRENCH_SRT, "fre", "Français (France)")]
    film = test_media.add_subtitles(video, tmp_path / "film.mkv", tracks)
    pipeline = uploaded_clip(setenv, tmp_path, clip=film)
    setenv(PLAYBACK_SECRET="p" * 32)
    media = load_handler("probe")(job_event("probe/job.json", pipeline), None)
    assert [(track["codec"], track["language"]) for track in media["subtitleTracks"]] == [
        ("subrip", "en"),
        ("subrip", "fr"),
    ]
    plan = load_handler("plan")(job_event("plan/job-with-media.json", pipeline, media=media), None)
    assert "captions" in plan["derivatives"]["fromSource"]
    made = load_handler("derive")(job_event("derive/captions.json", pipeline, media=media), None)
    assert made == {"name": "captions", "tracks": 2, "warnings": []}
    asset_id = pipeline["upload"].asset_id
    hls_made = load_handler("transcode")(job_event("transcode/job-with-plan.json", pipeline, media=media, plan=plan),
                                         None)  # fmt: skip
    outputs = {"hls": hls_made, "derived": [made]}
    load_handler("publish")(job_event("publish/job-with-outputs.json", pipeline, media=media, plan=plan,
                                      outputs=outputs), None)  # fmt: skip
    tracks = [track for track in call("get-asset", asset_id=asset_id)[1]["tracks"] if track["type"] == "text"]
    assert sorted((t["languageCode"], t["name"], t["source"], t["status"]) for t in tracks) == [
        ("en", "English", "embedded", "ready"), ("fr", "Français (France)", "embedded", "ready")]  # fmt: skip
    timeline = float(AssetModel.get(asset_id).hls["timelineSeconds"])
    assert 0 < timeline < 0.2  # one piece: the first frame is shown two frames in (B-frames: 0.0667 s measured)
    token = call("start-playback", asset_id=asset_id)[1]["hls"].split("/playback/")[1].split("/")[0]
    master = served("master-playlist", token=token)["body"]
    assert master.count("TYPE=SUBTITLES") == 2 and 'LANGUAGE="fr"' in master and 'LANGUAGE="en"' in master
    english = next(track for track in tracks if track["languageCode"] == "en")
    segment = served("playback-segment", token=token, rendition=english["trackId"], segment="segment_00000.vtt")
    assert f"X-TIMESTAMP-MAP=MPEGTS:{round(timeline * 90000)},LOCAL:00:00:00.000" in segment["body"]
    assert "00:00:00.500 --> 00:00:01.200\nHello\n" in segment["body"]
    end = captions_format.timestamp(media["durationSeconds"])
    assert f"00:00:01.200 --> {end}\nover" in segment["body"]  # cut at the video's end (its sound's, 2.021 s)


@pytest.mark.parametrize(
    ("codec", "container", "name"),
    [("mov_text", "mp4", "Spanish"), ("ass", "mkv", "Español"), ("webvtt", "mkv", "Español")],
)  # an MP4 keeps no track title: the track is named after its language
def test_every_text_subtitle_codec_a_source_carries_becomes_a_track_with_its_words(
    aws: None, setenv: Callable[..., None], tmp_path: Path, codec: str, container: str, name: str
) -> None:
    """A phone's or an editor's MP4 (mov_text), an anime fansub's MKV (ASS, its styling dropped) and a
    WebVTT track in Matroska: each a ready track with its language, the words as said."""
    video = test_media.generate_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=180)
    film = test_media.add_subtitles(video, tmp_path / f"film.{container}", [(ENGLISH_SRT, "spa", "Español")], codec)
    pipeline = uploaded_clip(setenv, tmp_path, clip=film)
    media = load_handler("probe")(job_event("probe/job.json", pipeline), None)
    assert [(track["codec"], track["language"]) for track in media["subtitleTracks"]] == [(codec, "es")]
    made = load_handler("derive")(job_event("derive/captions.json", pipeline, media=media), None)
    assert made == {"name": "captions", "tracks": 1, "warnings": []}
    asset_id = pipeline["upload"].asset_id
    [track] = AssetModel.get(asset_id).text_tracks.as_dict().values()
    assert (track["languageCode"], track["name"], track["source"]) == ("es", name, "embedded")
    [track_id] = AssetModel.get(asset_id).text_tracks.as_dict()
    vtt = boto3.client("s3").get_object(Bucket=MEDIA_BUCKET, Key=MediaKeys(asset_id).text_track(track_id))
    words = vtt["Body"].read().decode()
    assert "00:00:00.500 --> 00:00:01.200\nHello" in words and "over" in words and "{\\" not in words


def test_bitmap_subtitles_are_left_out_with_a_warning_that_says_so(aws: None, setenv: Callable[..., None],
                                                                  tmp_path: Path) -> None:  # fmt: skip
    pipeline = uploaded_clip(setenv, tmp_path)
    state = job_event("derive/captions.json", pipeline)
    state["media"]["subtitleTracks"] = [state["media"]["subtitleTracks"][1]]  # a PGS track alone
    made = load_handler("derive")(state, None)
    assert made["tracks"] == 0
    [warning] = made["warnings"]
    assert warning["code"] == "SubtitlesSkipped" and "English" in warning["message"]
    assert "pictures (hdmv_pgs_subtitle), not text" in warning["message"]


def generate(asset_id: str, user: str | None = None, **body: Any) -> tuple[int, Any]:
    return call("generate-track", asset_id=asset_id, user=user, body=body)


def test_generated_captions_are_asked_for_on_a_ready_video_with_sound_once_per_language(
    ready: str, setenv: Callable[..., None]
) -> None:
    sfn = boto3.client("stepfunctions")
    nothing = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    machine = sfn.create_state_machine(name="unit-derive", roleArn="arn:aws:iam::123456789012:role/unit",
                                       definition=nothing)["stateMachineArn"]  # fmt: skip
    setenv(DERIVE_STATE_MACHINE_ARN=machine)
    assert generate(ready, user="mallory", languageCode="en")[0] == 404  # someone else's, whatever the body
    assert generate(ready, user="mallory", nonsense=True)[0] == 404
    status, refused = generate(ready, languageCode="de")
    assert (status, refused["error"]["code"]) == (400, "UnsupportedLanguage") and "generated in en" in refused[
        "error"]["message"]  # fmt: skip
    assert generate(ready, languageCode="english!")[0] == 400
    status, silent = generate(ready, languageCode="en")  # the fixture's video has no sound
    assert (status, silent["error"]["code"]) == (409, "NoSound")
    AssetModel(ready).update(actions=[AssetModel.media.set({"durationSeconds": 31 * 60.0, "hasVideo": True,
                                                            "hasAudio": True})])  # fmt: skip
    status, long = generate(ready, languageCode="en")  # more than one Transcribe call could hear
    assert (status, long["error"]["code"]) == (409, "SpeechTooLong")
    assert "at most 30 minutes" in long["error"]["message"]
    AssetModel(ready).update(actions=[AssetModel.media.set({"durationSeconds": 14.0, "hasVideo": True,
                                                            "hasAudio": True})])  # fmt: skip
    status, track = generate(ready, languageCode="eng")
    assert status == 202
    assert {key: track[key] for key in ("type", "languageCode", "name", "source", "status")} == {
        "type": "text", "languageCode": "en", "name": "English (generated)", "source": "generated",
        "status": "preparing",
    }  # fmt: skip
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"]) == {
        "assetId": ready, "ownerId": "alice", "names": ["speech"]
    }  # fmt: skip
    assert generate(ready, languageCode="en") == (202, track)  # under way already: the same track
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    # Not in any master while it is preparing: a player never offers captions that are not there yet.
    token = call("start-playback", asset_id=ready)[1]["hls"].split("/playback/")[1].split("/")[0]
    assert served("master-playlist", token=token)["body"] == MASTER


def test_generated_captions_asked_for_at_upload_name_a_language_the_deployment_transcribes(aws: None) -> None:
    body = {"filename": "talk.mp4", "size": 1000, "contentType": "video/mp4"}
    status, refused = call("create-upload", body={**body, "generatedCaptions": {"languageCode": "fr"}})
    assert (status, refused["error"]["code"]) == (400, "UnsupportedLanguage")
    assert call("create-upload", body={**body, "generatedCaptions": {}})[0] == 400
    status, created = call("create-upload", body={**body, "generatedCaptions": {"languageCode": "en-GB"}})
    assert status == 201
    [track] = call("get-asset", asset_id=created["assetId"])[1]["tracks"]
    assert (track["languageCode"], track["source"], track["status"]) == ("en-gb", "generated", "preparing")


def test_a_shared_videos_viewers_get_its_ready_subtitles_until_it_is_private_again(ready: str) -> None:
    english = add(ready, languageCode="en", content="00:00:01.000 --> 00:00:02.000\nfor everyone")[1]
    assert call("start-playback", user="bob", asset_id=ready)[0] == 404  # private: nobody else's to play
    call("update-asset", asset_id=ready, body={"visibility": "public"})
    status, playback = call("start-playback", user="bob", asset_id=ready)
    assert status == 200
    token = playback["hls"].split("/playback/")[1].split("/")[0]
    assert f'URI="{english["trackId"]}/index.m3u8"' in served("master-playlist", token=token)["body"]
    cues = served("playback-segment", token=token, rendition=english["trackId"], segment="segment_00000.vtt")
    assert "00:00:01.000 --> 00:00:02.000\nfor everyone" in cues["body"]
    call("update-asset", asset_id=ready, body={"visibility": "private"})
    revoked = served("master-playlist", token=token)  # shared no more: the viewer's token stops
    assert revoked["statusCode"] == 403 and "PlaybackRevoked" in revoked["body"]
