"""Describing a source from ffprobe's answer, and what is refused before decoding."""

from __future__ import annotations

from typing import Any

import pytest

from reelstack.errors import MediaLimitExceeded, UnsupportedMedia
from reelstack.media.packets import StreamPackets
from reelstack.media.probe import MediaInfo, describe


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
        (probe_json([VIDEO], container="flv"), UnsupportedMedia, "UnsupportedContainer"),
        (probe_json([{**VIDEO, "codec_name": "hevc", "nb_frames": "1", "nb_read_packets": "1"}])
         | {"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "tags": {"major_brand": "heic"}}}, UnsupportedMedia,
         "ImageOnly"),
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
