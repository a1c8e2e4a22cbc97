"""Downloads: a rendition's own segments joined into one MP4 (or M4A) by stream copy, never a second
encode, with the index first (``faststart``) so that a gallery, a messenger or QuickTime opens it
before the whole file has arrived."""

from __future__ import annotations

from pathlib import Path

from reelstack.media.ffmpeg.hardened import SAFE_INPUT, ffmpeg_command


def remux_command(video: Path | None, audio: Path | None, out: Path) -> list[str]:
    """``video`` (a joined fMP4 rendition, with its own sound unless ``audio`` is given) and ``audio``
    (the sound's own rendition) -> ``out``. Without ``video`` it is the sound of ``audio`` alone (an
    M4A; ``audio`` may be a video rendition that carries the sound)."""
    inputs, maps = [], []
    for path in (video, audio):
        if path is not None:
            inputs += [*SAFE_INPUT, "-i", str(path)]
    if video is not None:
        maps += ["-map", "0:v:0", "-map", "1:a:0" if audio is not None else "0:a:0?"]
    else:
        maps += ["-map", "0:a:0", "-vn"]
    return ffmpeg_command(*inputs, *maps, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out))


SPEECH_SAMPLE_RATE = 16_000  # what Whisper hears (reelstack.media.whisper)


def speech_command(sound: Path, out: Path) -> list[str]:
    """The sound of ``sound`` (a joined rendition) as 16 kHz mono 16-bit PCM, raw: the Transcribe
    function reads it with numpy alone (it has no FFmpeg)."""
    return ffmpeg_command(*SAFE_INPUT, "-i", str(sound), "-map", "0:a:0", "-vn", "-ac", "1",
                          "-ar", str(SPEECH_SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "s16le", str(out))  # fmt: skip
