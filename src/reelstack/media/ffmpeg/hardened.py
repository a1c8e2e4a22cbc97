"""Opening untrusted input, hardened: the one place FFmpeg and ffprobe command lines begin.

Untrusted input is opened with ``-protocol_whitelist file`` (no network, no other protocol) and a
demuxer allow-list (no playlists, concat scripts or image sequences), from argv lists, with stdin
closed, and with decoders refusing frames larger than the pixel limit (a stream may grow after its
first header).
"""

from __future__ import annotations

from pathlib import Path

from reelstack.media.limits import ALLOWED_DEMUXERS, MediaLimits
from reelstack.media.toolchain import find_binary

SAFE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(ALLOWED_DEMUXERS)]
# A chunk reads only its part of the source, by HTTP range requests on a presigned GET (the last
# whitelist given wins). None of the allowed demuxers opens a URL named inside a file.
REMOTE_PROTOCOLS = "https,tls,tcp,http"
Source = Path | str  # a local file, or a presigned URL
DECODE_LIMITS = ["-max_pixels", str(MediaLimits().max_pixels)]


def probe_command(source: Path) -> list[str]:
    """The container and stream headers (nothing is decoded, no packet read beyond the probe)."""
    return [
        find_binary("ffprobe"), "-v", "error", "-hide_banner", *SAFE_INPUT,
        "-print_format", "json", "-show_format", "-show_streams", "-i", str(source),
    ]  # fmt: skip


def packet_scan_command(source: Path, from_index: bool = False) -> list[str]:
    """Every packet's stream, timestamps and flags (demuxing only): the file's real length, whether it
    is whole, and where its keyframes are (see reelstack.media.probe). ``from_index``: as an MP4/MOV's
    index says, without parsing the packets (a header copy holds only the index: reelstack.media.boxes)."""
    from_the_index = ["-fflags", "+noparse"] if from_index else []
    return [
        find_binary("ffprobe"), "-v", "error", "-hide_banner", *SAFE_INPUT, *from_the_index,
        "-show_entries", "packet=stream_index,pts_time,dts_time,duration_time,flags",
        "-print_format", "csv=p=0", "-i", str(source),
    ]  # fmt: skip


def ffmpeg_command(*arguments: str) -> list[str]:
    """``ffmpeg`` with the options every run takes: no stdin, errors only, overwrite its own outputs."""
    return [find_binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]


def input_arguments(source: Source, seek: float | None = None, length: float | None = None) -> list[str]:
    """Open ``source`` hardened; a URL (a chunk's presigned GET, read in ranges) may use HTTP(S) only."""
    seeking = ["-ss", f"{seek:.3f}"] if seek else []
    window = ["-t", f"{length:.3f}"] if length is not None else []
    protocols = [] if isinstance(source, Path) else ["-protocol_whitelist", REMOTE_PROTOCOLS]
    return [*seeking, *window, *SAFE_INPUT, *protocols, *DECODE_LIMITS, "-i", str(source)]
