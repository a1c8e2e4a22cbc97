"""The source's text subtitle tracks as WebVTT files: FFmpeg converts between text formats
(mov_text, SubRip, ASS/SSA, WebVTT) without decoding a frame; reelstack.media.captions cleans them."""

from __future__ import annotations

from pathlib import Path

from reelstack.media.ffmpeg.hardened import Source, ffmpeg_command, input_arguments


def subtitles_command(source: Source, streams: list[int], out: Path) -> list[str]:
    """One WebVTT file per subtitle stream (``out/<stream index>.vtt``), from one read of the source."""
    outputs = []
    for stream in streams:
        outputs += ["-map", f"0:{stream}", "-c:s", "webvtt", "-f", "webvtt", str(out / f"{stream}.vtt")]
    return ffmpeg_command(*input_arguments(source), *outputs)
