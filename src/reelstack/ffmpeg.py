"""The FFmpeg commands (the one place that builds them) and how they run: hardened, bounded in time.

Untrusted input is opened with ``-protocol_whitelist file`` (no network, no other protocol) and a
demuxer allow-list (no playlists, concat scripts or image sequences), from argv lists, with stdin
closed, in a private work folder, with a timeout derived from the Lambda's remaining time.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstack.errors import ToolchainFailed, UnsupportedMedia
from reelstack.ladder import Plan
from reelstack.media import ALLOWED_DEMUXERS
from reelstack.toolchain import find_binary

SAFE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(ALLOWED_DEMUXERS)]
X264_PRESET = "veryfast"
STORYBOARD_TILE_LONG_SIDE = 160
STORYBOARD_COLUMNS = 10
STORYBOARD_MAX_TILES = 100


def probe_command(source: Path) -> list[str]:
    return [
        find_binary("ffprobe"),
        "-v",
        "error",
        "-hide_banner",
        *SAFE_INPUT,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        # Reads every packet (demuxing, no decoding) so that a truncated file shows as fewer packets
        # than its index promises.
        "-count_packets",
        "-i",
        str(source),
    ]


def _ffmpeg(*arguments: str) -> list[str]:
    return [find_binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]


def transcode_command(source: Path, plan: Plan, out: Path) -> list[str]:
    """Every rendition from one decode: the picture is scaled down rung by rung (each rung from the
    one above, which is cheaper than scaling each from the source) and ``-var_stream_map`` writes one
    fMP4 HLS playlist per rendition. Keyframes are forced every ``keyframe_seconds`` of output time, so
    they line up across renditions and every 6 s segment starts with one."""
    renditions = plan.renditions
    arguments = [*SAFE_INPUT, "-i", str(source)]
    if plan.audio_only:
        arguments += ["-map", "0:a:0", *_audio_options(0)]
        stream_map = "a:0,name:audio"
    else:
        steps = []
        for index, rendition in enumerate(renditions):
            source_pad = f"[0:v:0]fps={plan.frame_rate},format=yuv420p," if index == 0 else f"[c{index - 1}]"
            outputs = f"[v{index}]" if index == len(renditions) - 1 else f",split=2[v{index}][c{index}]"
            steps.append(f"{source_pad}scale={rendition.width}:{rendition.height}:flags=bicubic{outputs}")
        arguments += ["-filter_complex", ";".join(steps)]
        maps = []
        for index, rendition in enumerate(renditions):
            arguments += ["-map", f"[v{index}]"]
            if plan.has_audio:
                arguments += ["-map", "0:a:0"]
            maps.append(f"v:{index}" + (f",a:{index}" if plan.has_audio else "") + f",name:{rendition.name}")
            arguments += [
                f"-b:v:{index}",
                str(rendition.video_bitrate),
                f"-maxrate:v:{index}",
                str(int(rendition.video_bitrate * 1.1)),
                f"-bufsize:v:{index}",
                str(rendition.video_bitrate * 2),
            ]
        gop = str(plan.gop_frames)
        arguments += [
            "-c:v",
            "libx264",
            "-preset",
            X264_PRESET,
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-g",
            gop,
            "-keyint_min",
            gop,
            "-sc_threshold",
            "0",
            "-force_key_frames",
            f"expr:gte(t,n_forced*{plan.keyframe_seconds})",
        ]
        if plan.has_audio:
            arguments += _audio_options(None)
        stream_map = " ".join(maps)
    arguments += [
        "-f",
        "hls",
        "-hls_time",
        str(plan.segment_seconds),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "fmp4",
        "-hls_flags",
        "independent_segments",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        str(out / "%v" / "segment_%05d.m4s"),
        "-var_stream_map",
        stream_map,
        str(out / "%v" / "index.m3u8"),
    ]
    return _ffmpeg(*arguments)


def _audio_options(index: int | None) -> list[str]:
    suffix = f":{index}" if index is not None else ""
    return [f"-c:a{suffix}", "aac", f"-b:a{suffix}", "128k", "-ac", "2", "-ar", "48000"]


def master_playlist(plan: Plan) -> str:
    """The master playlist, written from the plan (BANDWIDTH, RESOLUTION, CODECS, FRAME-RATE)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in plan.renditions:
        attributes = [
            f"BANDWIDTH={int(rendition.video_bitrate * 1.1) + rendition.audio_bitrate}",
            f"AVERAGE-BANDWIDTH={rendition.bandwidth}",
            f'CODECS="{rendition.codecs}"',
        ]
        if not plan.audio_only:
            attributes += [f"RESOLUTION={rendition.width}x{rendition.height}", f"FRAME-RATE={float(plan.fps):.3f}"]
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", f"{rendition.name}/index.m3u8"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Storyboard:
    interval_seconds: float
    tile_width: int
    tile_height: int
    columns: int
    count: int

    def vtt(self, image_name: str, duration_seconds: float) -> str:
        """WebVTT cues pointing into the sprite sheet (``image#xywh=x,y,w,h``), as players expect."""
        cues = ["WEBVTT", ""]
        for index in range(self.count):
            start = index * self.interval_seconds
            end = min(duration_seconds, start + self.interval_seconds)
            if start >= duration_seconds:
                break
            x, y = (index % self.columns) * self.tile_width, (index // self.columns) * self.tile_height
            cues += [
                f"{_vtt_time(start)} --> {_vtt_time(end)}",
                f"{image_name}#xywh={x},{y},{self.tile_width},{self.tile_height}",
                "",
            ]
        return "\n".join(cues)


def _vtt_time(seconds: float) -> str:
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def plan_storyboard(duration_seconds: float, width: int, height: int) -> Storyboard:
    interval = max(1.0, math.ceil(duration_seconds / STORYBOARD_MAX_TILES))
    count = max(1, min(STORYBOARD_MAX_TILES, math.ceil(duration_seconds / interval)))
    scale = STORYBOARD_TILE_LONG_SIDE / max(width, height)
    tile_width, tile_height = max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    return Storyboard(interval, tile_width, tile_height, min(STORYBOARD_COLUMNS, count), count)


def poster_command(source: Path, at_seconds: float, width: int, height: int, out: Path) -> list[str]:
    """One frame, found by seeking (not decoding from the start), scaled to at most 1280 wide."""
    scale = min(1.0, 1280 / max(width, 1))
    size = f"{max(2, round(width * scale / 2) * 2)}:{max(2, round(height * scale / 2) * 2)}"
    return _ffmpeg(
        "-ss", f"{at_seconds:.3f}", *SAFE_INPUT, "-i", str(source),
        "-frames:v", "1", "-vf", f"scale={size}", "-q:v", "3", str(out),
    )  # fmt: skip


PREVIEW_SECONDS = 4.0
PREVIEW_LONG_SIDE = 480
PREVIEW_MAX_BYTES = 400_000  # what a feed can autoplay on a phone without a thought
ANIMATED_SECONDS = 3.0
ANIMATED_LONG_SIDE = 320


def preview_window(duration_seconds: float, length: float) -> tuple[float, float]:
    """``(start, length)``: from a quarter in (past intros and titles), inside the video."""
    length = min(length, duration_seconds)
    start = min(duration_seconds * 0.25, max(0.0, duration_seconds - length))
    return start, length


def _small(width: int, height: int, long_side: int) -> str:
    scale = min(1.0, long_side / max(width, height, 1))
    return f"{max(2, round(width * scale / 2) * 2)}:{max(2, round(height * scale / 2) * 2)}"


def preview_command(source: Path, duration: float, width: int, height: int, out: Path) -> list[str]:
    """A short, muted, small MP4 that phones autoplay inline (H.264 Main, faststart, capped bitrate)."""
    start, length = preview_window(duration, PREVIEW_SECONDS)
    return _ffmpeg(
        "-ss", f"{start:.3f}", *SAFE_INPUT, "-i", str(source), "-t", f"{length:.3f}",
        "-vf", f"fps=24,scale={_small(width, height, PREVIEW_LONG_SIDE)}", "-an",
        "-c:v", "libx264", "-preset", X264_PRESET, "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-crf", "30", "-maxrate", "600k", "-bufsize", "600k", "-movflags", "+faststart", str(out),
    )  # fmt: skip


def animated_command(source: Path, duration: float, width: int, height: int, out: Path) -> list[str]:
    """An animated WebP of the same moment, for places that cannot play video."""
    start, length = preview_window(duration, ANIMATED_SECONDS)
    return _ffmpeg(
        "-ss", f"{start:.3f}", *SAFE_INPUT, "-i", str(source), "-t", f"{length:.3f}",
        "-vf", f"fps=10,scale={_small(width, height, ANIMATED_LONG_SIDE)}", "-an",
        "-c:v", "libwebp_anim", "-quality", "50", "-loop", "0", str(out),
    )  # fmt: skip


def storyboard_command(source: Path, board: Storyboard, out: Path) -> list[str]:
    """The sprite sheet from keyframes only (``-skip_frame nokey``): no full decode of the video."""
    rows = math.ceil(board.count / board.columns)
    return _ffmpeg(
        "-skip_frame", "nokey", *SAFE_INPUT, "-i", str(source),
        "-vf", f"fps=1/{board.interval_seconds},scale={board.tile_width}:{board.tile_height},"
               f"tile={board.columns}x{rows}",
        "-frames:v", "1", "-q:v", "4", str(out),
    )  # fmt: skip


def run(command: list[str], timeout_seconds: float, workdir: Path) -> str:
    """Run a tool; its stdout, or a named error carrying the end of its stderr."""
    if timeout_seconds <= 1:
        raise ToolchainFailed("no time left to run FFmpeg in this invocation")
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            check=False,
            errors="replace",
        )
    except subprocess.TimeoutExpired as error:
        raise ToolchainFailed(f"{Path(command[0]).name} ran out of time after {timeout_seconds:.0f}s") from error
    if result.returncode != 0:
        # The work folder's path means nothing to a client.
        detail = (result.stderr or "").replace(str(workdir), "").strip()[-600:] or f"exit status {result.returncode}"
        if "not on whitelist" in detail or "Invalid data found" in detail:
            reason = detail.splitlines()[-1].strip(": ")
            raise UnsupportedMedia(f"not a video or audio file this pipeline opens ({reason})", code="NotMedia")
        if result.returncode < 0:
            raise ToolchainFailed(f"{Path(command[0]).name} was killed (signal {-result.returncode}): {detail}")
        raise UnsupportedMedia(f"{Path(command[0]).name} could not read the file: {detail}", code="UnreadableMedia")
    return result.stdout


def probe(source: Path, timeout_seconds: float, workdir: Path) -> dict[str, Any]:
    return json.loads(run(probe_command(source), timeout_seconds, workdir) or "{}")
