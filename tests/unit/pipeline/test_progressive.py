"""Progressive publishing on moto with real segments: what a player polling the media bucket sees while
FFmpeg writes (one piece), and while chunks finish in any order, at once, or again."""

from __future__ import annotations

import random
import shutil
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from reelstack.api import playback
from reelstack.errors import AssetGone, NotFound
from reelstack.media import ffmpeg, hls, render
from reelstack.media.ladder import plan_ladder
from reelstack.pipeline import progressive
from reelstack.pipeline.job import Job
from reelstack.store import assets
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix
from reelstack.store.records import AssetModel
from reelstack.store.states import AssetStatus
from reelstack.store.views import asset_view
from tests.unit.conftest import MEDIA_BUCKET, load_handler
from tests.unit.media.conftest import media
from tests.unit.pipeline.conftest import job_event


def published(key: str) -> str | None:
    try:
        return boto3.client("s3").get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read().decode()
    except boto3.client("s3").exceptions.NoSuchKey:
        return None


def stored_keys() -> set[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=MEDIA_BUCKET)
    return {item["Key"] for item in listed.get("Contents", [])}


def playable_events(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for event in pipeline["events"]() if event["type"] == "asset.playable"]


def probed_job(pipeline: dict[str, Any], chunk_seconds: int = 0) -> tuple[Job, dict[str, Any]]:
    info = load_handler("probe")(job_event("probe/job.json", pipeline), None)
    state = job_event("plan/job-with-media.json", pipeline, media=info, chunkSeconds=chunk_seconds)
    plan = load_handler("plan")(state, None)
    return Job.from_state({**state, "plan": plan}), plan


def test_a_player_polling_the_bucket_sees_playlists_that_only_grow(
    long_pipeline: dict[str, Any], tmp_path: Path
) -> None:
    """FFmpeg's work folder, replayed one segment at a time: after each watch, every segment a
    published playlist lists is in the bucket, no playlist ever loses a line, and the asset becomes
    playable (once) when every rung has its first segment."""
    job, _ = probed_job(long_pipeline)
    plan = job.planned()
    finished = tmp_path / "finished"
    finished.mkdir()
    render.encode_ladder(long_pipeline["clip"], job.described(), plan, finished, lambda: 60)
    names = [r.name for r in plan.renditions]
    segments = {name: hls.playlist_segments((finished / name / "index.m3u8").read_text()) for name in names}
    inits = {name: hls.playlist_init((finished / name / "index.m3u8").read_text()) for name in names}
    # 14 s: four short segments for a quick start, then up to the plan's length (ffmpeg.SHORT_SEGMENTS_WINDOW)
    assert [round(seconds) for _, seconds in segments[names[0]]] == [2, 2, 2, 2, 4, 2]

    keys = MediaKeys(job.asset_id)
    out = tmp_path / "out"
    publisher = progressive.LadderPublisher(job, plan, out)
    log = render.SegmentLog(plan, out, lambda: 60)
    seen: dict[str, list[hls.Segment]] = {name: [] for name in names}
    for written in range(len(segments[names[0]]) + 1):
        for name in names:  # what FFmpeg has closed so far: its playlist is renamed into place last
            (out / name).mkdir(parents=True, exist_ok=True)
            for file, _ in segments[name][:written] + ([(inits[name], 0)] if written else []):
                shutil.copy(finished / name / file, out / name / file)
            if written:
                # FFmpeg lists only its last few segments (the log keeps the rest)
                window = segments[name][:written][-ffmpeg.SHORT_SEGMENTS_WINDOW :]
                (out / name / "index.m3u8").write_text(hls.event_playlist(window, inits[name], 6, ended=False))
        publisher(log.update())
        for name in names:
            text = published(keys.media_playlist(name))
            if not written:
                assert text is None and published(keys.master_playlist) is None
                continue
            listed = hls.playlist_segments(text)
            assert listed[: len(seen[name])] == seen[name] and len(listed) == written  # it grew, nothing lost
            assert {keys.rendition_prefix(name) + file for file, _ in listed} <= stored_keys()
            assert f"#EXT-X-TARGETDURATION:{plan.target_duration}" in text and "#EXT-X-PLAYLIST-TYPE:EVENT" in text
            # The exact tag: Shaka Player starts a playlist that says TIME-OFFSET=0 at its live edge.
            assert "#EXT-X-START:TIME-OFFSET=-86400" in text.splitlines() and "#EXT-X-ENDLIST" not in text
            seen[name] = listed
        view = asset_view(AssetModel.get(job.asset_id))
        assert view["playable"] is bool(written) and ("playback" in view) is bool(written)
    assert len(playable_events(long_pipeline)) == 1

    # A retried step starts over: its first watch must not take segments back from players.
    shutil.rmtree(out)
    (out / names[0]).mkdir(parents=True)
    again = progressive.LadderPublisher(job, plan, out)
    shutil.copytree(finished, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.m3u8"))
    for name in names:
        (out / name / "index.m3u8").write_text(hls.event_playlist(segments[name][:1], inits[name], 6, ended=False))
    again(render.SegmentLog(plan, out, lambda: 60).update())
    assert all(len(hls.playlist_segments(published(keys.media_playlist(name)))) == 6 for name in names)
    shutil.copytree(finished, out, dirs_exist_ok=True)
    again.finish(render.SegmentLog(plan, out, lambda: 60).update())
    assert all(published(keys.media_playlist(name)).endswith("#EXT-X-ENDLIST\n") for name in names)
    assert len(playable_events(long_pipeline)) == 0  # announced once, by the first run


def test_a_delete_while_segments_are_going_up_stops_the_encode_and_leaves_nothing(
    long_pipeline: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, _ = probed_job(long_pipeline)
    out = tmp_path / "out"
    made = render.encode_ladder(long_pipeline["clip"], job.described(), job.planned(), out, lambda: 60)
    monkeypatch.setattr(progressive, "STATUS_CHECK_SECONDS", 0)
    publisher = progressive.LadderPublisher(job, job.planned(), out)
    publisher(made.progress)
    assert any("/hls/" in key for key in stored_keys())
    assets.move(job.asset_id, AssetStatus.DELETED)
    with pytest.raises(AssetGone):
        publisher(made.progress)
    assert not [key for key in stored_keys() if key.startswith(MediaKeys(job.asset_id).prefix)]


# -- chunks, in any order -----------------------------------------------------------------------------


def chunked_job(pipeline: dict[str, Any], chunks: int) -> Job:
    """A job whose plan has ``chunks`` chunks of 6 s, each with a report of two fake segments per rung."""
    info = replace(media(320, 180), duration_seconds=6 * chunks)
    plan = plan_ladder(info, chunk_seconds=6)
    assert len(plan.chunks) == chunks
    state = job_event("plan/job-with-media.json", pipeline, media=info.as_dict(), plan=plan.as_dict())
    job = Job.from_state(state)
    assert assets.move(job.asset_id, AssetStatus.PROCESSING)
    keys = MediaKeys(job.asset_id)
    s3 = boto3.client("s3")
    for chunk in plan.chunks:
        report = {
            rendition.name: {"init": "init.mp4", "segments": [[f"segment_{chunk.first_segment:05d}.m4s", 6.0]]}
            for rendition in plan.renditions
        }
        s3.put_object(Bucket=MEDIA_BUCKET, Key=keys.chunk_report(chunk.index), Body=_json({"segments": report}))
    return job


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def listed_segments(job: Job) -> list[str]:
    """The segments of the top rung's playlist as the playback route serves it now (none: nothing yet)."""
    keys = MediaKeys(job.asset_id)
    try:
        text = playback.current_playlist(AssetModel.get(job.asset_id, consistent_read=True), keys, "180p")
    except NotFound:
        return []
    return [name for name, _ in hls.playlist_segments(text)]


def segments(count: int) -> list[str]:
    return [f"segment_{n:05d}.m4s" for n in range(count)]


def test_chunks_finishing_out_of_order_publish_the_prefix_and_playable_waits_for_the_audio(
    pipeline: dict[str, Any],
) -> None:
    job = chunked_job(pipeline, 4)
    progressive.chunk_done(job, 2)
    assert listed_segments(job) == []  # chunk 0 is not done: nothing a player could start with
    progressive.chunk_done(job, 0)
    assert listed_segments(job) == segments(1)
    assert not AssetModel.get(job.asset_id).playable and not published(MediaKeys(job.asset_id).master_playlist)
    progressive.audio_done(job)  # the audio rendition: now a player has picture and sound
    assert AssetModel.get(job.asset_id).playable and len(playable_events(pipeline)) == 1
    assert published(MediaKeys(job.asset_id).master_playlist)
    progressive.chunk_done(job, 1)  # extends the prefix past the chunk that finished early
    assert listed_segments(job) == segments(3)
    progressive.chunk_done(job, 1)  # a retried chunk: nothing changes
    assert listed_segments(job) == segments(3)
    progressive.chunk_done(job, 3)
    assert listed_segments(job) == segments(4)
    keys = MediaKeys(job.asset_id)
    # Every chunk's playlist is closed as stored, and served open (hls.held_open) until the asset is ready.
    assert published(keys.partial_playlist("180p", 4)).endswith("#EXT-X-ENDLIST\n")
    assert "#EXT-X-ENDLIST" not in playback.current_playlist(AssetModel.get(job.asset_id), keys, "180p")
    assert len(playable_events(pipeline)) == 0


def _finished(out: Path, names: list[str], stem: str, count: int) -> dict[str, render.Progress]:
    """What FFmpeg has finished of ``names``: ``count`` segments of 2 s each (the files exist)."""
    for name in names:
        (out / name).mkdir(parents=True, exist_ok=True)
        for file in ["init.mp4", *[f"{stem}_{n:05d}.m4s" for n in range(count)]]:
            (out / name / file).write_bytes(b"media")
    init = "init.mp4" if count else None  # FFmpeg names it in its playlist with the first segment
    return {name: render.Progress(init, [(f"{stem}_{n:05d}.m4s", 2.0) for n in range(count)]) for name in names}


@pytest.mark.parametrize("audio_first", [False, True], ids=["video-first", "audio-first"])
def test_a_chunked_video_is_playable_once_its_first_chunk_and_its_audio_have_their_first_segments(
    pipeline: dict[str, Any], tmp_path: Path, audio_first: bool
) -> None:
    """The playable moment does not wait for a whole chunk or the whole audio: the first chunk and the
    audio are published as they encode, and the second of them to have its first segment up makes
    the asset playable. Players get the first chunk's own playlist until it is done, then the chunks'."""
    job = chunked_job(pipeline, 3)
    plan, keys = job.planned(), MediaKeys(job.asset_id)
    names = [r.name for r in plan.renditions]
    video = progressive.StreamPublisher(job, plan, tmp_path / "video", "video")
    audio = progressive.StreamPublisher(job, plan, tmp_path / "audio", "audio")
    streams = [(audio, [hls.AUDIO_RENDITION], "segment"), (video, names, "start")]
    first, second = streams if audio_first else streams[::-1]

    first[0](_finished(first[0].out, first[1], first[2], 0))  # FFmpeg has started: nothing to publish
    assert not [key for key in stored_keys() if key.startswith(keys.hls_prefix)]
    first[0](_finished(first[0].out, first[1], first[2], 1))
    assert not AssetModel.get(job.asset_id).playable and published(keys.master_playlist) is None
    second[0](_finished(second[0].out, second[1], second[2], 1))
    asset = AssetModel.get(job.asset_id)
    assert asset.playable and len(playable_events(pipeline)) == 1
    assert 'URI="audio/index.m3u8"' in published(keys.master_playlist)
    assert listed_segments(job) == ["start_00000.m4s"]
    sound = playback.current_playlist(asset, keys, hls.AUDIO_RENDITION)
    assert hls.playlist_segments(sound) == [("segment_00000.m4s", 2.0)] and "#EXT-X-ENDLIST" not in sound

    video(_finished(video.out, names, "start", 2))  # the first chunk goes on
    assert listed_segments(job) == ["start_00000.m4s", "start_00001.m4s"]
    video.finish(_finished(video.out, names, "start", 3), ended=False)
    report = {name: {"init": "init.mp4", "segments": [[f"start_{n:05d}.m4s", 2.0] for n in range(3)]} for name in names}
    boto3.client("s3").put_object(Bucket=MEDIA_BUCKET, Key=keys.chunk_report(0), Body=_json({"segments": report}))
    progressive.chunk_done(job, 0)  # now the chunks' playlists: the same segments, nothing taken back
    assert listed_segments(job) == ["start_00000.m4s", "start_00001.m4s", "start_00002.m4s"]
    audio.finish(_finished(audio.out, [hls.AUDIO_RENDITION], "segment", 4))
    progressive.audio_done(job)
    assert published(keys.media_playlist(hls.AUDIO_RENDITION)).endswith("#EXT-X-ENDLIST\n")
    # Done before the video: served open, its last segment (2 s, under half the target) held back.
    sound = playback.current_playlist(AssetModel.get(job.asset_id), keys, hls.AUDIO_RENDITION)
    assert len(hls.playlist_segments(sound)) == 3 and "#EXT-X-ENDLIST" not in sound
    assert len(playable_events(pipeline)) == 0  # announced once, above


def test_a_slow_writer_of_a_shorter_prefix_never_takes_segments_back(
    pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk 0 finishes alone and writes the playlists of one chunk, slowly: meanwhile chunk 1 finishes
    and publishes two. When chunk 0's write lands, players must still get two."""
    job = chunked_job(pipeline, 3)
    progressive.audio_done(job)
    write = progressive.put_texts
    served: list[int] = []

    def slow_write(texts: dict[str, str]) -> None:
        if any(key.endswith("-00001.m3u8") for key in texts):  # chunk 0's, of one chunk
            progressive.chunk_done(job, 1)  # overtakes it
            served.append(len(listed_segments(job)))
        write(texts)
        served.append(len(listed_segments(job)))

    monkeypatch.setattr(progressive, "put_texts", slow_write)
    progressive.chunk_done(job, 0)
    assert served[-1] == 2 and served == sorted(served), served  # it only grew
    assert AssetModel.get(job.asset_id).published_chunks == 2 and len(playable_events(pipeline)) == 1


def test_a_chunk_that_died_between_its_write_and_its_count_publishes_on_its_retry(
    pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = chunked_job(pipeline, 2)
    raise_published = assets.raise_published

    def dies(asset_id: str, chunks: int) -> None:
        raise TimeoutError("the Lambda ran out of time")

    monkeypatch.setattr(assets, "raise_published", dies)
    with pytest.raises(TimeoutError):
        progressive.chunk_done(job, 0)
    assert listed_segments(job) == []  # written, never named: players get nothing half-made
    monkeypatch.setattr(assets, "raise_published", raise_published)
    progressive.chunk_done(job, 0)  # the Map's Retry
    assert listed_segments(job) == segments(1)


def test_a_delete_while_a_chunk_publishes_leaves_nothing(
    pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = chunked_job(pipeline, 2)
    write = progressive.put_texts

    def deleted_meanwhile(texts: dict[str, str]) -> None:
        write(texts)
        assets.move(job.asset_id, AssetStatus.DELETED)
        delete_prefix(MediaKeys(job.asset_id).prefix)  # the DELETE route's clean-up, done before this write lands

    monkeypatch.setattr(progressive, "put_texts", deleted_meanwhile)
    with pytest.raises(AssetGone):
        progressive.chunk_done(job, 0)
    assert not [key for key in stored_keys() if key.startswith(MediaKeys(job.asset_id).prefix)]


def test_chunks_finishing_at_the_same_moment_publish_them_all(
    pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each AWS call is atomic, as DynamoDB's and S3's are (moto's are not thread-safe); the calls of
    # the twelve chunks interleave freely.
    one_call = threading.Lock()
    make_api_call = BaseClient._make_api_call

    def atomic(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        with one_call:
            return make_api_call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", atomic)
    job = chunked_job(pipeline, 12)
    progressive.audio_done(job)
    order = list(range(12))
    random.Random(16).shuffle(order)
    start = threading.Barrier(len(order))
    failures: list[BaseException] = []

    def finish(index: int) -> None:
        start.wait()
        try:
            progressive.chunk_done(job, index)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=finish, args=(index,)) for index in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert listed_segments(job) == segments(12)
    assert AssetModel.get(job.asset_id).published_chunks == 12
    assert len(playable_events(pipeline)) == 1


def test_extras_wait_for_the_first_segments_but_never_longer_than_their_yield(
    long_pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thumbnails and previews start when the asset is playable, when it is gone, or when their
    yield has passed, whichever comes first."""
    job, _ = probed_job(long_pipeline)
    clock, polls = [0.0], []  # a clock of its own: the waits are counted, not timed

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        clock[0] += seconds

    def wait(asset_id: str, seconds: float) -> None:
        progressive.yield_until_playable(asset_id, seconds, lambda: clock[0], sleep)

    wait(job.asset_id, 1.0)  # not playable: it looks until its yield is over
    assert polls == [progressive.PLAYABLE_POLL_SECONDS] * 4

    polls.clear()
    progressive.announce_playable(job)
    wait(job.asset_id, 60)
    assert polls == []  # playable: no wait at all

    other, _ = probed_job(long_pipeline)
    assets.move(other.asset_id, AssetStatus.DELETED)
    wait(other.asset_id, 60)
    wait("no-such-asset", 60)
    assert polls == []  # deleted or unknown: nothing to wait for
