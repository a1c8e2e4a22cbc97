"""The pipeline end to end on the local cloud: generated media uploaded through the API as a phone
would, S3 events, the state machine, real FFmpeg, DynamoDB and SNS (read through an SQS queue)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import urllib3
from PIL import Image

from reelstack.media import captions, ffmpeg, hls
from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.media import (
    Clip,
    Speech,
    generate_audio,
    generate_clip,
    generate_image,
    make_clip,
    spoken_clip,
    word_error_rate,
)
from reelstack_cli.settings import CHECKOUT
from reelstack_cli.uploader import StateStore, Uploader, guess_content_type, wait_for_asset
from tests.integration.browsers import chromium
from tests.integration.conftest import Stack
from tests.media_cases import (
    BY_NAME,
    Seen,
    check_poster,
    check_rendition,
    decoded_tone,
    loudness_of,
    mean_volume,
    packet_durations,
    probe,
    source_facts,
)

pytestmark = pytest.mark.localcloud
http = urllib3.PoolManager(retries=False)


@dataclass
class Case:
    make: Callable[[Path], Path]
    expected: str  # "ready" or the failure code
    warnings: frozenset[str] = frozenset()  # the codes a ready asset must carry
    says: str = ""  # words a failed asset's sentence must hold (what the file is)
    asset: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)  # more of POST /uploads' body


def _clip(name: str, recipe: Clip) -> Callable[[Path], Path]:
    return lambda folder: make_clip(folder / f"{name}{recipe.suffix}", recipe)


def _matrix(name: str) -> Case:
    """A case of the unit tests' media matrix (tests/media_cases.py), through the local cloud."""
    case = BY_NAME[name]
    return Case(case.make, case.outcome, case.warnings, case.says)


SPOKEN: dict[str, Speech] = {}  # the speech case's sentences and when each is said


def said(path: Path) -> Path:
    SPOKEN["speech-en"] = spoken_clip(path)
    return path


# None for the GOP is the encoder's default: one keyframe in a clip shorter than about 8 s.
CASES = {
    "landscape-1080p-with-audio": Case(lambda p: generate_clip(p / "a.mp4", seconds=4, width=1920, height=1080),
                                       "ready", options={"downloads": ["small"]}),  # 480p, not 1080p
    "portrait-with-rotation": Case(_clip("portrait", Clip(3, 720, 1280, rotation=90)), "ready",
                                   options={"downloads": ["highest"]}),
    "audio-only": Case(lambda p: generate_audio(p / "memo.m4a", seconds=4), "ready",
                       options={"downloads": ["audio", "highest"]}),  # highest: failed, there is no picture
    # Downloads (reelstack.derivatives.downloads): the top rung and its sound, each in one file.
    "20s-with-downloads": Case(lambda p: generate_clip(p / "twenty.mp4", seconds=20, width=640, height=360),
                               "ready", options={"downloads": ["highest", "audio"]}),
    # Encoded far faster than they play: FFmpeg's playlist window moves on before the watcher looks
    # (they failed with "ffprobe was not found" when segments were measured with ffprobe).
    "aac-only-10s": Case(lambda p: generate_audio(p / "tone.m4a", seconds=10), "ready"),
    "one-fps-1080p": Case(_clip("one-fps", Clip(12, 1920, 1080, fps="1", gop_seconds=2)), "ready"),
    # Standard input, as a phone's camera writes it (High profile with B-frames, 44.1 kHz AAC-LC):
    # its video and sound are the top rung as they are.
    "standard-input-720p": Case(_clip("phone", Clip(8, 1280, 720, x264_preset="veryfast", audio_rate=44100)),
                                "ready"),
    # The six short clips made by FFmpeg's defaults that used to fail (one keyframe each).
    "6s-720x1280-silent": Case(_clip("silent", Clip(6, 720, 1280, gop_seconds=None, audio="none")), "ready",
                               options={"downloads": ["audio"]}),  # failed: there is no sound
    "8s-rotated": Case(_clip("rotated", Clip(8, 360, 640, rotation=90, gop_seconds=None)), "ready"),
    "5s-160x120": Case(_clip("tiny", Clip(5, 160, 120, gop_seconds=None)), "ready"),
    "6s-hevc-10bit": Case(_clip("hevc", Clip(6, 640, 360, codec="hevc", pixel_format="yuv420p10le",
                                             gop_seconds=None, container="mov")), "ready"),
    "two-audio-tracks": Case(_clip("two", Clip(4, 640, 360, audio="two-tracks", gop_seconds=None)), "ready"),
    # A film with a dub (English 440 Hz, French 1 kHz), and levels evened out on request.
    "english-and-french-mkv": Case(_clip("film", Clip(3, 320, 240, container="mkv", audio="languages")), "ready",
                                   options={"downloads": ["audio"]}),  # the default track's own rendition
    "quiet-normalised": Case(_clip("quiet", Clip(3, 320, 240, audio_gain_db=-16.3)), "ready",
                             options={"normalizeAudio": True}),  # about -35 LUFS
    "loud-normalised": Case(_clip("loud", Clip(3, 320, 240, audio_gain_db=17.5)), "ready",
                            options={"normalizeAudio": True}),  # near full scale, about -1 LUFS
    "variable-frame-rate": Case(_clip("vfr", Clip(4, 640, 360, variable_frame_rate=True, gop_seconds=None)),
                                "ready"),
    # What phones, browsers and broadcast make besides (a slice of the media matrix).
    "hlg-iphone-portrait": Case(_clip("hlg", Clip(3, 360, 640, codec="hevc", colour="hlg", container="mov",
                                                  rotation=90)), "ready"),
    "mediarecorder-webm": _matrix("vp8-mediarecorder-webm"),
    "mpeg-ts-5.1": Case(_clip("broadcast", Clip(3, 640, 360, container="ts", audio="5.1")), "ready"),
    "prores-pcm": _matrix("prores-mov-pcm"),
    "full-range": _matrix("h264-rotated180-24fps-full-range"),
    "flac": _matrix("audio-flac"),
    "damaged-middle": _matrix("h264-damaged-middle"),
    # Refused, with a clear code, leaving nothing behind.
    "truncated": _matrix("truncated-faststart-mp4"),
    "random-bytes-named-mp4": _matrix("random-bytes"),
    "hls-playlist-disguised": _matrix("hls-playlist-named-mp4"),
    "concat-script-disguised": _matrix("concat-script-named-mp4"),
    "avi-embedded-playlist": _matrix("avi-embedded-playlist"),
    "pixel-bomb": _matrix("pixel-bomb-12-megapixels"),
    "dolby-vision-5": _matrix("dolby-vision-5-no-base-layer"),
    "image-only": Case(lambda p: generate_image(p / "photo.mp4"), "ImageOnly", says="is a PNG picture"),
    "subtitles-disguised": _matrix("srt-latin1-named-mp4"),
    # Captions generated from speech (reelstack.derivatives.speech): three known sentences said by espeak-ng.
    "speech-en": Case(lambda p: said(p / "speech.mp4"), "ready",
                      options={"generatedCaptions": {"languageCode": "en"}}),
}  # fmt: skip


def upload(api: ApiClient, path: Path, state: Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """As the CLI does: the declared type from the file's name (the pipeline reads the content)."""
    uploader = Uploader(api, "alice", state=StateStore(state))
    return uploader.upload(path, content_type=guess_content_type(path), resume="never", options=options)


@pytest.fixture(scope="module")
def processed(
    stack: Stack, alice: ApiClient, events_queue: Callable[[], list[dict[str, Any]]], tmp_path_factory: Any
) -> dict[str, Case]:
    """Every case uploaded at once, then waited for (the pipeline runs them side by side)."""
    folder = tmp_path_factory.mktemp("media")
    events_queue()

    def run(item: tuple[str, Case]) -> None:
        name, case = item
        (folder / name).mkdir()
        case.source = case.make(folder / name)
        uploaded = upload(alice, case.source, folder / "state", case.options)
        case.asset = wait_for_asset(alice, uploaded["assetId"], timeout=300)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, CASES.items()))
    time.sleep(1)  # SNS -> SQS delivery
    events_queue()
    return CASES


def events_for(drain: Callable[[], list[dict[str, Any]]], asset_id: str, kind: str) -> list[dict[str, Any]]:
    """The asset's events of this kind, each once: the contract delivers at least once, so a redelivery
    (same eventId; a fresh clone saw one asset.failed twice) is not a second event."""
    events = {event["eventId"]: event for event in drain() if event["assetId"] == asset_id and event["type"] == kind}
    return list(events.values())


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
    # Several audio tracks play from audio renditions of their own, else the sound is in every rendition.
    muxed = media["hasAudio"] and "#EXT-X-MEDIA:TYPE=AUDIO" not in master
    if media["hasAudio"]:  # measured on every source (EBU R128)
        assert set(media["loudness"]) >= {"integratedLufs", "rangeLu", "truePeakDbtp"}, media
    for line, rendition in zip(stream_lines, asset["renditions"], strict=True):
        assert "BANDWIDTH=" in line
        assert f'CODECS="{rendition["codecs"]}"' in line
        folder = tmp_path / "hls" / rendition["name"]
        playlist = (folder / "index.m3u8").read_text()
        durations = [float(value) for value in re.findall(r"#EXTINF:([\d.]+)", playlist)]
        # Short segments first, for a quick start, then 6 s (the last one whatever is left).
        short = [ffmpeg.SHORT_SEGMENT_SECONDS] * (ffmpeg.SHORT_SEGMENTS_WINDOW + 1) + [6 - ffmpeg.SHORT_SEGMENT_SECONDS]
        planned = (short + [6] * len(durations))[: len(durations) - 1]
        assert all(abs(duration - length) < 0.1 for duration, length in zip(durations[:-1], planned, strict=True)), (
            durations
        )
        assert abs(sum(durations) - media["durationSeconds"]) < 0.5
        # ffprobe reads the rendition through its playlist (HLS over local files only).
        streams = probe(folder / "index.m3u8", "-protocol_whitelist", "file", "-allowed_extensions", "ALL")["streams"]
        kinds = sorted(stream["codec_type"] for stream in streams)
        if media["hasVideo"]:
            assert f"RESOLUTION={rendition['width']}x{rendition['height']}" in line
            video = next(stream for stream in streams if stream["codec_type"] == "video")
            copied = rendition["passthrough"]["video"]
            assert video["codec_name"] == "h264" and (copied or video["profile"] == "High"), (video, rendition)
            assert (video["width"], video["height"]) == (rendition["width"], rendition["height"])
        assert kinds == (["audio"] if muxed or not media["hasVideo"] else []) + (["video"] if media["hasVideo"] else [])
    case = processed[name]
    assert {warning["code"] for warning in asset.get("warnings", [])} == set(case.warnings), asset.get("warnings")
    if media["hasVideo"]:
        # What a viewer notices: H.264 8-bit 4:2:0 BT.709 TV range, as long as the source, in sync,
        # upright and not washed out; a poster that decodes upright and is not black.
        seen, facts = Seen(), source_facts(case.source)
        for rendition in asset["renditions"]:
            check_rendition(seen, tmp_path / "hls", rendition, facts, media["dynamicRange"] != "sdr", muxed)
        check_poster(seen, tmp_path / "thumbnails" / "poster.jpg", (media["width"], media["height"]))
        assert not seen.notes, seen.notes
        assert min(asset["renditions"][0]["width"], asset["renditions"][0]["height"]) <= min(
            media["width"], media["height"]
        )  # never upscaled
        vtt = (tmp_path / "thumbnails" / "storyboard.vtt").read_text()
        assert vtt.startswith("WEBVTT") and "storyboard.jpg#xywh=" in vtt
        assert {"poster", "storyboard"} <= set(asset["thumbnails"])
        # The preview: muted, at most 4 s, small enough for a feed; the animated WebP decodes.
        preview = probe(tmp_path / "previews" / "preview.mp4")
        assert [stream["codec_type"] for stream in preview["streams"]] == ["video"]
        assert float(preview["format"]["duration"]) <= 4.1
        assert (tmp_path / "previews" / "preview.mp4").stat().st_size < ffmpeg.PREVIEW_MAX_BYTES
        with Image.open(tmp_path / "previews" / "preview.webp") as animated:
            # Every ready clip here lasts 2 s or more; libwebp merges repeated frames (1 fps: one a second).
            source_video = next(stream for stream in probe(case.source)["streams"] if stream["codec_type"] == "video")
            fps = float(Fraction(source_video["avg_frame_rate"]))
            assert animated.is_animated and animated.n_frames >= min(10, 2 * fps - 1)
        assert set(asset["previews"]) == {"video", "animated"}
    else:
        assert "thumbnails" not in asset
        assert not any("/thumbnails/" in key or "/previews/" in key for key in keys)
        assert asset["previews"] == {"video": None, "animated": None, "reason": "audio only: there is no picture"}
    assert asset["playback"]["hls"].startswith("http")
    ready = events_for(events_queue, asset["assetId"], "asset.ready")
    assert len(ready) == 1
    playable = events_for(events_queue, asset["assetId"], "asset.playable")  # once, and first
    assert len(playable) == 1 and playable[0]["occurredAt"] <= ready[0]["occurredAt"], (playable, ready)
    assert playable[0]["playback"]["hls"].startswith("http") and asset["playable"] is True
    assert ready[0]["_attributeType"] == "asset.ready"
    assert ready[0]["ownerId"] == "alice"
    assert ready[0]["playback"]["hls"]
    assert set(ready[0]["previews"]) == set(asset["previews"])  # asset.ready carries the previews too
    assert ready[0].get("warnings", []) == asset.get("warnings", [])  # and the warnings


ASKED_FOR_DOWNLOADS = [name for name, case in CASES.items() if "downloads" in case.options]
VIDEO_DOWNLOADS = {"highest": 1080, "small": 480}


def settled_downloads(api: ApiClient, asset_id: str, timeout: float = 180) -> dict[str, dict[str, Any]]:
    """The asset's downloads once none is preparing any more (they are made after asset.ready)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = {entry["name"]: entry for entry in api.get(f"/assets/{asset_id}").get("downloads", [])}
        if all(entry["status"] != "preparing" for entry in entries.values()) or time.monotonic() > deadline:
            return entries
        time.sleep(0.5)


def settled_track(api: ApiClient, asset_id: str, track_id: str, timeout: float = 180) -> dict[str, Any]:
    """A text track once it is no longer preparing (generated captions are made after asset.ready)."""
    deadline = time.monotonic() + timeout
    while True:
        track = next(track for track in api.get(f"/assets/{asset_id}")["tracks"] if track["trackId"] == track_id)
        if track["status"] != "preparing" or time.monotonic() > deadline:
            return track
        time.sleep(0.5)


# tiny.en on espeak-ng's voice, through the pipeline's AAC: 0.115 measured (3 of 26 words: "But whether"
# for "The weather", "7" for "seven"); 0.2 leaves room for two more, while the wrong sound, or none, is near 1.
SPEECH_WER_THRESHOLD = 0.2
CUE_START_TOLERANCE = 0.5  # seconds between a sentence's first sound and the cue that shows it


def test_speech_becomes_a_generated_english_track_that_says_it_when_it_is_said(
    processed: dict[str, Case], stack: Stack, alice: ApiClient, mallory: ApiClient
) -> None:
    case = processed["speech-en"]
    asset_id = case.asset["assetId"]
    [track] = [track for track in case.asset["tracks"] if track["source"] == "generated"]
    track = settled_track(alice, asset_id, track["trackId"])
    assert (track["status"], track["languageCode"], track["name"]) == ("ready", "en", "English (generated)"), track
    # In the master a player loads, and its cues are the sentences, each shown when it is said.
    playback = alice.get(f"/assets/{asset_id}/playback")
    master = http.request("GET", playback["hls"]).data.decode()
    assert 'LANGUAGE="en"' in master and f'URI="{track["trackId"]}/index.m3u8"' in master, master
    stored = stack.client("s3").get_object(Bucket=stack.outputs["mediaBucket"],
                                           Key=f"assets/{asset_id}/tracks/{track['trackId']}.vtt")  # fmt: skip
    cues = captions.stored_cues(stored["Body"].read().decode())
    speech = SPOKEN["speech-en"]
    heard = " ".join(cue.text.replace("\n", " ") for cue in cues)
    wer = word_error_rate(" ".join(speech.sentences), heard)
    print(f"generated captions: WER {wer:.3f}; cues {[(cue.start, cue.end, cue.text) for cue in cues]}")
    assert wer <= SPEECH_WER_THRESHOLD, (wer, heard)
    for sentence, start in zip(speech.sentences, speech.starts, strict=True):
        nearest = min(cues, key=lambda cue: abs(cue.start - start))
        assert abs(nearest.start - start) <= CUE_START_TOLERANCE, (sentence, start, nearest)
    for cue in cues:
        assert 1.0 <= cue.end - cue.start <= 7.0 and all(len(line) <= 42 for line in cue.text.split("\n")), cue

    # Asked for later: 202 and preparing, then ready; refused with a sentence where it cannot be.
    later = alice.post(f"/assets/{asset_id}/tracks/generate", {"languageCode": "en"})
    assert (later["status"], later["source"]) == ("preparing", "generated") and later["trackId"] != track["trackId"]
    for api, body, status, code in ((mallory, {"languageCode": "en"}, 404, "AssetNotFound"),
                                    (alice, {"languageCode": "fr"}, 400, "UnsupportedLanguage")):  # fmt: skip
        with pytest.raises(ApiError) as refused:
            api.post(f"/assets/{asset_id}/tracks/generate", body)
        assert (refused.value.status, refused.value.code) == (status, code)
    silent = processed["6s-720x1280-silent"].asset["assetId"]
    with pytest.raises(ApiError) as no_sound:
        alice.post(f"/assets/{silent}/tracks/generate", {"languageCode": "en"})
    assert (no_sound.value.status, no_sound.value.code) == (409, "NoSound")
    assert settled_track(alice, asset_id, later["trackId"])["status"] == "ready"


def joined_rendition(folder: Path, target: Path) -> Path:
    """A downloaded rendition's init segment and segments, as its playlist lists them, in one file."""
    text = (folder / "index.m3u8").read_text()
    with target.open("wb") as out:
        for name in [hls.playlist_init(text), *(segment for segment, _ in hls.playlist_segments(text))]:
            out.write((folder / name).read_bytes())
    return target


@pytest.mark.parametrize("name", ASKED_FOR_DOWNLOADS)
def test_downloads_asked_for_are_the_renditions_own_frames_and_sound_in_one_file(
    name: str, processed: dict[str, Case], stack: Stack, alice: ApiClient, tmp_path: Path, events_queue: Any
) -> None:
    """Each download asked for at upload: an MP4 (or M4A) whose packets are the rendition's own (a
    stream copy), saved under the asset's title; what cannot apply fails with a sentence."""
    case = processed[name]
    asset, media = case.asset, case.asset["media"]
    entries = settled_downloads(alice, asset["assetId"])
    assert sorted(entries) == sorted(case.options["downloads"])
    download_prefix(stack, f"assets/{asset['assetId']}/hls/", tmp_path / "hls")
    master = (tmp_path / "hls" / "master.m3u8").read_text()
    variants, own_audio = hls.master_variants(master)
    for download, entry in entries.items():
        if not (media["hasAudio"] if download == "audio" else media["hasVideo"]):
            assert entry["status"] == "failed" and entry["message"] and "url" not in entry, entry
            continue
        assert entry["status"] == "ready", entry
        answer = http.request("GET", entry["url"])
        assert answer.status == 200
        assert answer.headers["Content-Disposition"].startswith(f'attachment; filename="{asset["title"]}')
        saved = tmp_path / f"{download}.{'m4a' if download == 'audio' else 'mp4'}"
        saved.write_bytes(answer.data)
        assert entry["bytes"] == len(answer.data) and answer.data[4:8] == b"ftyp"
        assert answer.data.find(b"moov") < answer.data.find(b"mdat")  # faststart: plays while it arrives
        got = packet_durations(saved)
        if download in VIDEO_DOWNLOADS:  # the largest rendition at most this tall (short side), else the smallest
            fitting = [v for v in variants if min(v.width, v.height) <= VIDEO_DOWNLOADS[download]] or variants[-1:]
            top = fitting[0]
            assert (entry["width"], entry["height"]) == (top.width, top.height)
            assert min(top.width, top.height) <= VIDEO_DOWNLOADS[download]
            rung = packet_durations(joined_rendition(tmp_path / "hls" / top.playlist.split("/")[0], tmp_path / "top"))
            assert got["video"] == rung["video"]
            assert got.get("audio") == rung.get("audio") or own_audio  # the sound in the rung, or its own
        else:
            sound = own_audio or variants[-1].playlist
            rendition = packet_durations(joined_rendition(tmp_path / "hls" / sound.split("/")[0], tmp_path / "sound"))
            assert got == {"audio": rendition["audio"]}
    announced: list[str] = []
    deadline = time.monotonic() + 20  # SNS to SQS
    while sorted(announced) != sorted(entries) and time.monotonic() < deadline:
        time.sleep(0.3)
        updates = events_for(events_queue, asset["assetId"], "asset.updated")
        announced = [event["download"]["name"] for event in updates if "download" in event]
    assert sorted(announced) == sorted(entries)  # each announced once, ready or failed


# What a phone's gallery or a browser does with a download: open it in a plain <video>/<audio> element
# (no player library, no Media Source), read its size and length, and play past its first second.
OPEN_DOWNLOAD = """async ([url, tag]) => {
  const element = document.createElement(tag);
  element.muted = true;
  element.src = url;
  document.body.append(element);
  await new Promise((resolve, reject) => {
    element.addEventListener("loadedmetadata", resolve, {once: true});
    element.addEventListener("error", () => reject(new Error(`media error ${element.error && element.error.code}`)));
  });
  await element.play();
  while (element.currentTime < 1) await new Promise((resolve) => setTimeout(resolve, 50));
  element.pause();
  return {width: element.videoWidth || null, height: element.videoHeight || null, duration: element.duration};
}"""


def test_every_ready_download_opens_and_plays_in_chromiums_own_media_element(
    processed: dict[str, Case], alice: ApiClient
) -> None:
    """Every download the cases made, in Chromium's <video> (MP4) or <audio> (M4A), from its signed URL."""
    opened = []
    with chromium() as browser:
        page = browser.new_page()
        page.set_content("<!doctype html><body></body>")
        for name in ASKED_FOR_DOWNLOADS:
            asset = processed[name].asset
            for entry in settled_downloads(alice, asset["assetId"]).values():
                if entry["status"] != "ready":
                    continue
                video = entry["name"] in VIDEO_DOWNLOADS
                shown = page.evaluate(OPEN_DOWNLOAD, [entry["url"], "video" if video else "audio"])
                assert shown["duration"] == pytest.approx(asset["media"]["durationSeconds"], abs=0.3), (name, shown)
                if video:
                    assert (shown["width"], shown["height"]) == (entry["width"], entry["height"]), (name, shown)
                opened.append((name, entry["name"]))
    assert {download for _, download in opened} == {"highest", "small", "audio"}, opened


def test_standard_input_keeps_its_own_video_and_sound_as_the_top_rung(processed: dict[str, Case]) -> None:
    asset = processed["standard-input-720p"].asset
    top, *below = asset["renditions"]
    assert top["passthrough"]["video"] and top["passthrough"]["audio"], top["passthrough"]
    assert top["codecs"].startswith("avc1.64") and (top["width"], top["height"]) == (1280, 720)
    assert below and not any(rung["passthrough"]["video"] for rung in below)
    full = processed["hlg-iphone-portrait"].asset["renditions"][0]["passthrough"]
    assert not full["video"] and "HDR" in full["reason"]  # the asset says why it was encoded


def test_of_two_audio_tracks_the_default_one_plays(processed: dict[str, Case], stack: Stack, tmp_path: Path) -> None:
    """The clip's first track is silent and its second, marked default, carries a tone."""
    asset = processed["two-audio-tracks"].asset
    download_prefix(stack, f"assets/{asset['assetId']}/hls/", tmp_path)
    playlist = tmp_path / asset["renditions"][0]["name"] / "index.m3u8"
    assert mean_volume(playlist, "-allowed_extensions", "ALL") > -40


def test_every_language_is_an_audio_rendition_that_plays_its_own_track(
    processed: dict[str, Case], stack: Stack, tmp_path: Path
) -> None:
    asset = processed["english-and-french-mkv"].asset
    assert [(t["type"], t["languageCode"], t["name"], t["source"], t["status"]) for t in asset["tracks"]] == [
        ("audio", "en", "English", "embedded", "ready"),
        ("audio", "fr", "French", "embedded", "ready"),
    ]
    download_prefix(stack, f"assets/{asset['assetId']}/hls/", tmp_path)
    master = (tmp_path / "master.m3u8").read_text()
    audio = re.findall(r'^#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="(\w+)",LANGUAGE="(\w+)",DEFAULT=(\w+),'
                       r'AUTOSELECT=YES,CHANNELS="2",URI="(\w+)/index.m3u8"$', master, re.M)  # fmt: skip
    assert audio == [("English", "en", "YES", "audio"), ("French", "fr", "NO", "audio2")], master
    heard = [decoded_tone(tmp_path / folder / "index.m3u8", "-allowed_extensions", "ALL") for *_, folder in audio]
    assert abs(heard[0] - 440) < 15 and abs(heard[1] - 1000) < 30, heard


def test_normalised_audio_meets_the_target_and_never_passes_the_ceiling(
    processed: dict[str, Case], stack: Stack, tmp_path: Path
) -> None:
    """A quiet clip (about -35 LUFS) comes up to -16 LUFS, a loud one (about -1 LUFS, peaks near
    0 dBTP) down to it; neither peaks over -1.5 dBTP, and the asset gives the figures before and after."""
    for name, before in (("quiet-normalised", -35), ("loud-normalised", -1)):
        asset = processed[name].asset
        download_prefix(stack, f"assets/{asset['assetId']}/hls/", tmp_path / name)
        integrated, peak = loudness_of(tmp_path / name / asset["renditions"][0]["name"] / "index.m3u8",
                                       "-allowed_extensions", "ALL")  # fmt: skip
        assert abs(integrated - -16) <= 1 and peak <= -1.5, (name, integrated, peak)
        loudness = asset["media"]["loudness"]
        assert abs(loudness["integratedLufs"] - before) <= 1.5, loudness  # the source's, as measured
        after = loudness["normalized"]
        assert (after["targetLufs"], after["ceilingDbtp"]) == (-16, -1.5) and after["applied"], after
        assert abs(after["integratedLufs"] - integrated) <= 0.5 and after["truePeakDbtp"] <= -1.5, after


def test_hdr_is_recorded_and_converted(processed: dict[str, Case]) -> None:
    media = processed["hlg-iphone-portrait"].asset["media"]
    assert media["dynamicRange"] == "hlg"
    assert any("tone-mapped" in conversion for conversion in media["conversions"]), media["conversions"]


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
    says = processed[name].says
    assert says and says in asset["error"]["message"], asset["error"]  # the sentence, end to end
    listing = stack.client("s3").list_objects_v2(
        Bucket=stack.outputs["mediaBucket"], Prefix=f"assets/{asset['assetId']}/"
    )
    assert listing.get("KeyCount", 0) == 0
    failed = events_for(events_queue, asset["assetId"], "asset.failed")
    assert len(failed) == 1
    assert failed[0]["error"] == asset["error"]
    assert not events_for(events_queue, asset["assetId"], "asset.ready")


def test_a_zero_length_object_fails_with_a_clear_code(stack: Stack, alice: ApiClient, events_queue: Any) -> None:
    created = alice.post("/uploads", {"filename": "empty.mp4", "size": 1000, "contentType": "video/mp4"})
    key = stack.client("dynamodb").get_item(
        TableName=stack.outputs["uploadsTableName"], Key={"uploadId": {"S": created["uploadId"]}}
    )["Item"]["key"]["S"]
    stack.client("s3").put_object(Bucket=stack.outputs["uploadBucket"], Key=key, Body=b"")  # around the API
    asset = wait_for_asset(alice, created["assetId"], timeout=60)
    assert (asset["status"], asset["error"]["code"]) == ("failed", "SizeMismatch")
    failed: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20  # SNS to SQS: more than a second at load 28 (a fresh clone beside helpers)
    while not failed and time.monotonic() < deadline:
        time.sleep(0.3)
        failed += events_for(events_queue, created["assetId"], "asset.failed")
    time.sleep(1)  # a second one would be on its way by now
    failed += events_for(events_queue, created["assetId"], "asset.failed")
    assert len({event["eventId"] for event in failed}) == 1, failed  # across drains too


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


@pytest.mark.parametrize(
    ("function", "fault", "named"),
    [
        ("TranscodeFunction", "transcode", "InjectedFault"),
        # The source's body breaks mid-stream (botocore's IncompleteReadError, as when the object
        # changed under the download): a transient StorageUnavailable, never a verdict on the file.
        ("ProbeFunction", "probe:cut-read", "StorageUnavailable"),
    ],
)
def test_a_transient_failure_is_retried_and_announced_once(
    function: str, fault: str, named: str, stack: Stack, alice: ApiClient, events_queue: Any, tmp_path: Path
) -> None:
    with stack.function_environment(function) as configure:
        configure({"FAULT_INJECTION": fault})
        uploaded = upload(alice, generate_clip(tmp_path / "retry.mp4", seconds=2, width=640, height=360), tmp_path)
        asset = wait_for_asset(alice, uploaded["assetId"], timeout=120)
    assert asset["status"] == "ready", asset.get("error")
    history = stack.execution_history(uploaded["assetId"])
    failures = [
        (details["error"], details.get("cause", ""))
        for event in history
        for details in [event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails")]
        if details
    ]
    assert [error for error, _ in failures] == [named], failures
    if named == "StorageUnavailable":
        assert "IncompleteReadError" in failures[0][1]
    time.sleep(1)
    assert len(events_for(events_queue, uploaded["assetId"], "asset.ready")) == 1
