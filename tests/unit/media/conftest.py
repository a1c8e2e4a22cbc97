"""Helpers for the media tests."""

from __future__ import annotations

from reelstack.media.probe import MediaInfo


def media(width: int, height: int, fps: str = "30/1", audio: bool = True, vfr: bool = False) -> MediaInfo:
    return MediaInfo(10, True, audio, width, height, frame_rate=fps, variable_frame_rate=vfr)
