"""The rendition ladder: rungs, never upscaled, frame rates, audio-only."""

from __future__ import annotations

from reelstack.media.ladder import plan_ladder
from reelstack.media.probe import MediaInfo
from tests.unit.media.conftest import media


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
