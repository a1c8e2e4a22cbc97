"""The rendition ladder: rungs, never upscaled, frame rates, audio-only, and which sources pass through."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from reelstack.media.ladder import h264_level, plan_ladder
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


# -- pass-through: which sources keep their video as the top rung --------------------------------------

STANDARD = MediaInfo(
    60, True, True, 1920, 1080, frame_rate="30/1", container="mov,mp4,m4a,3gp,3g2,mj2", video_codec="h264",
    video_profile="High", video_level=40, video_bitrate=6_000_000, pixel_format="yuv420p",
    color_tags="bt709/bt709/bt709", keyframe_count=60, max_keyframe_gap_seconds=1.0, audio_codec="aac",
    audio_profile="LC", audio_channels=2, audio_sample_rate=48000, audio_bitrate=128_000,
)  # fmt: skip


def test_a_phone_standard_source_keeps_its_video_and_audio_as_the_top_rung() -> None:
    plan = plan_ladder(STANDARD, chunk_seconds=30)
    top, below = plan.renditions[0], plan.renditions[1:]
    assert plan.copy_video and plan.copy_audio and len(plan.chunks) == 1  # never chunked: one decode for the rest
    assert top.passthrough["video"] and top.passthrough["audio"] and "kept as it is" in top.passthrough["reason"]
    assert top.video_bitrate == 6_000_000 and top.codecs == "avc1.640028,mp4a.40.2"
    assert all(not rung.passthrough["video"] and rung.passthrough["audio"] for rung in below)
    assert plan.target_duration == 7  # cut at the source's keyframes: up to one gap past 6 s
    untagged = replace(STANDARD, color_tags="//", width=1280, height=720, video_bitrate=4_000_000, video_level=31)
    assert plan_ladder(untagged).copy_video  # untagged HD is BT.709 to every player


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"video_codec": "hevc"}, "not H.264"),
        ({"pixel_format": "yuv420p10le", "bit_depth": 10}, "8-bit 4:2:0"),
        ({"pixel_format": "yuv422p"}, "8-bit 4:2:0"),
        ({"color_range": "pc"}, "TV range"),
        ({"dynamic_range": "hlg", "color_tags": "bt2020nc/bt2020/arib-std-b67", "color_matrix": "bt2020"}, "HDR"),
        ({"color_tags": "smpte170m/smpte170m/smpte170m"}, "not BT.709"),
        ({"interlaced": True}, "interlaced"),
        ({"variable_frame_rate": True}, "variable"),
        ({"frame_rate": "120/1"}, "over 60"),
        ({"rotation": 90, "width": 1080, "height": 1920}, "turned by 90"),
        ({"width": 2560, "height": 1440}, "rung's 1920x1080"),
        ({"width": 1919}, "1919x1080"),  # an odd width is scaled to an even one
        ({"video_level": 51}, "level 5.1"),
        ({"video_bitrate": 16_000_000}, "16.0 Mbit/s"),
        ({"video_bitrate": 0, "bitrate": 0}, "cannot be read"),
        ({"max_keyframe_gap_seconds": 8.3}, "8.3 s apart"),
        ({"container": "matroska,webm"}, "not MP4 or MOV"),
        ({"container": "mpegts"}, "not MP4 or MOV"),
        ({"video_profile": "High 4:4:4 Predictive"}, "profile"),
        ({"duration_seconds": 1200}, "encoded in chunks"),
    ],
)
def test_anything_but_standard_input_is_encoded_and_the_asset_says_why(change: dict[str, Any], reason: str) -> None:
    plan = plan_ladder(replace(STANDARD, **change), chunk_seconds=60)
    assert not plan.copy_video and not plan.copy_audio and plan.target_duration == 6
    assert not plan.renditions[0].passthrough["video"]
    assert reason in plan.renditions[0].passthrough["reason"], plan.renditions[0].passthrough


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"audio_profile": "HE-AAC"}, "not AAC-LC"),
        ({"audio_codec": "opus", "audio_profile": None}, "not AAC-LC"),
        ({"audio_channels": 6}, "6 channels"),
        ({"audio_channels": 1}, "1 channel at"),
        ({"audio_sample_rate": 8000}, "8000 Hz"),
    ],
)
def test_audio_that_is_not_aac_lc_stereo_is_encoded_beside_copied_video(change: dict[str, Any], reason: str) -> None:
    plan = plan_ladder(replace(STANDARD, **change))
    assert plan.copy_video and not plan.copy_audio
    assert reason in plan.renditions[0].passthrough["reason"] and plan.renditions[0].audio_bitrate == 128_000


def test_a_standard_source_without_sound_copies_its_video_alone() -> None:
    plan = plan_ladder(replace(STANDARD, has_audio=False, audio_codec=None, audio_profile=None))
    assert plan.copy_video and not plan.copy_audio and plan.renditions[0].codecs == "avc1.640028"


@pytest.mark.parametrize(
    ("width", "height", "fps", "bitrate", "level"),
    [
        (1920, 1080, 30, 5_000_000, "4.0"),  # 8,160 macroblocks a frame: past 3.2's 5,120
        (1920, 1080, 60, 7_500_000, "4.2"),  # 489,600 a second: past 4.1's 245,760
        (1280, 720, 30, 2_800_000, "3.1"),
        (1280, 720, 60, 4_200_000, "3.2"),  # 216,000 a second: exactly 3.2's
        (854, 480, 30, 1_400_000, "3.1"),  # 1,620 a frame, but 48,600 a second: past 3.0's 40,500
        (640, 360, 30, 800_000, "3.0"),
        (320, 180, 30, 200_000, "1.3"),
        (1920, 1080, 1, 5_000_000, "4.0"),  # a 1 fps source: the frame size decides
    ],
)
def test_each_rung_declares_the_lowest_h264_level_it_fits(
    width: int, height: int, fps: int, bitrate: int, level: str
) -> None:
    """ITU-T H.264 Table A-1 (High profile: 1.25x the bitrates); x264 is told this level, and the
    master's CODECS says it (the media matrix reads it back from every init segment)."""
    assert h264_level(width, height, Fraction(fps), bitrate) == level
