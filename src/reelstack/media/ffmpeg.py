"""The FFmpeg commands (the one place that builds them) and how they run: hardened, bounded in time.

Untrusted input is opened with ``-protocol_whitelist file`` (no network, no other protocol) and a
demuxer allow-list (no playlists, concat scripts or image sequences), from argv lists, with stdin
closed, in a private work folder, with a timeout derived from the Lambda's remaining time, and with
decoders refusing frames larger than the pixel limit (a stream may grow after its first header).

Every picture the pipeline makes goes through :func:`picture_filter`, which turns whatever the source
is (HDR or SDR, BT.601 or BT.709, full or TV range, 10-bit, 4:2:2 or 4:4:4, interlaced) into what
the output needs: BT.709 SDR 8-bit 4:2:0 in TV range for H.264, JFIF's full-range BT.601 for JPEG,
RGB for WebP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from reelstack.errors import MediaLimitExceeded, OutOfTime, ToolchainFailed, UnsupportedMedia
from reelstack.media import identify
from reelstack.media.chunks import TIMELINE_OFFSET_SECONDS, Chunk
from reelstack.media.hls import AUDIO_RENDITION
from reelstack.media.ladder import MAXRATE_SHARE, Plan, codecs_level, even_size
from reelstack.media.probe import ALLOWED_DEMUXERS, MediaInfo, MediaLimits
from reelstack.media.toolchain import find_binary

log = logging.getLogger(__name__)
SAFE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(ALLOWED_DEMUXERS)]
# A chunk reads only its part of the source, by HTTP range requests on a presigned GET (the last
# whitelist given wins). None of the allowed demuxers opens a URL named inside a file.
REMOTE_PROTOCOLS = "https,tls,tcp,http"
Source = Path | str  # a local file, or a presigned URL
DECODE_LIMITS = ["-max_pixels", str(MediaLimits().max_pixels)]
X264_PRESET = "veryfast"
# Under a copied top rung (standard input) the rungs below are a weak link's fallback, and the whole
# encode is theirs: superfast takes about a quarter less CPU than veryfast for them (bench playable).
X264_PRESET_BELOW_COPY = "superfast"
STORYBOARD_TILE_LONG_SIDE = 160
STORYBOARD_COLUMNS = 10
STORYBOARD_MAX_TILES = 100
# HDR -> SDR: BT.2408's reference white (203 nits, where HDR phones put paper white and faces)
# becomes SDR white; highlights above it, up to a 1,000-nit master, roll off smoothly (mobius keeps
# everything below 80 % of white as it is), so a scene keeps its brightness instead of the dim,
# grey look of a curve that compresses the whole range (hable).
REFERENCE_WHITE_NITS = 203
HDR_PEAK_NITS = 1000
TONEMAP = f"tonemap=mobius:param=0.8:desat=0:peak={HDR_PEAK_NITS / REFERENCE_WHITE_NITS:.3f}"
BT709_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]


def probe_command(source: Path) -> list[str]:
    """The container and stream headers (nothing is decoded, no packet read beyond the probe)."""
    return [
        find_binary("ffprobe"), "-v", "error", "-hide_banner", *SAFE_INPUT,
        "-print_format", "json", "-show_format", "-show_streams", "-i", str(source),
    ]  # fmt: skip


def packet_scan_command(source: Path) -> list[str]:
    """Every packet's stream, timestamps and flags (demuxing only): the file's real length, whether it
    is whole, and where its keyframes are (see reelstack.media.probe)."""
    return [
        find_binary("ffprobe"), "-v", "error", "-hide_banner", *SAFE_INPUT,
        "-show_entries", "packet=stream_index,pts_time,dts_time,duration_time,flags",
        "-print_format", "csv=p=0", "-i", str(source),
    ]  # fmt: skip


def _ffmpeg(*arguments: str) -> list[str]:
    return [find_binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]


def _input(source: Source, seek: float | None = None, length: float | None = None) -> list[str]:
    """Open ``source`` hardened; a URL (a chunk's presigned GET, read in ranges) may use HTTP(S) only."""
    seeking = ["-ss", f"{seek:.3f}"] if seek else []
    window = ["-t", f"{length:.3f}"] if length is not None else []
    protocols = [] if isinstance(source, Path) else ["-protocol_whitelist", REMOTE_PROTOCOLS]
    return [*seeking, *window, *SAFE_INPUT, *protocols, *DECODE_LIMITS, "-i", str(source)]


class Target(Enum):
    """What a picture is for: each output format has its own colour rules."""

    VIDEO = "video"  # H.264: BT.709, TV range, 8-bit 4:2:0, tagged so
    JPEG = "jpeg"  # JFIF: BT.601 matrix, full range, 4:2:0 (what every image decoder assumes)
    RGB = "rgb"  # WebP: libwebp converts RGB itself, with its own (BT.601) rules


_ZSCALE_MATRIX = {"bt601": "170m", "bt709": "709", "bt2020": "2020_ncl"}


def picture_filter(
    media: MediaInfo, width: int, height: int, target: Target, fps: str | None = None, keep_last_frame: bool = True
) -> str:
    """The filter chain from the source's chosen video stream to ``width`` x ``height`` for ``target``.

    Deinterlacing comes first (it needs the fields as they are), then the frame rate (fewer frames to
    convert), then one conversion that scales and fixes colour: zscale tone-maps HDR after scaling
    down (so a 4K phone video is tone-mapped at 1080p), swscale converts SDR matrices and ranges.
    ``keep_last_frame`` keeps a clip shorter than one output frame from coming out empty (pictures);
    the ladder keeps the exact frame count instead."""
    steps = []
    if media.interlaced:
        steps.append("bwdif=mode=send_frame:deint=interlaced")
    if fps:
        steps.append(f"fps={fps}:eof_action=pass" if keep_last_frame else f"fps={fps}")
    out_matrix = "bt601" if target is Target.JPEG else "bt709"
    out_range = "pc" if target is Target.JPEG else "tv"
    if media.is_hdr:
        transfer = "arib-std-b67" if media.dynamic_range == "hlg" else "smpte2084"
        steps += [
            f"zscale=w={width}:h={height}:f=bicubic:tin={transfer}:min={_ZSCALE_MATRIX[media.color_matrix]}"
            f":pin=2020:rin={'full' if media.color_range == 'pc' else 'limited'}:t=linear:npl={REFERENCE_WHITE_NITS}",
            "format=gbrpf32le",
            "zscale=p=709",
            TONEMAP,
            f"zscale=t=709:m={_ZSCALE_MATRIX[out_matrix]}:r={'full' if out_range == 'pc' else 'limited'}",
        ]
        steps.append(
            {Target.RGB: "format=gbrp,format=bgra", Target.JPEG: "format=yuvj420p"}.get(target, "format=yuv420p")
        )
    else:
        steps.append(
            f"scale={width}:{height}:flags=bicubic:in_range={media.color_range}:in_color_matrix={media.color_matrix}"
            + ("" if target is Target.RGB else f":out_range={out_range}:out_color_matrix={out_matrix}")
        )
        # yuvj420p, not yuv420p: some filters (tile) drop the frame's range, and FFmpeg's JPEG encoder
        # refuses a picture that does not say it is full range.
        steps.append({Target.RGB: "format=bgra", Target.JPEG: "format=yuvj420p"}.get(target, "format=yuv420p"))
    if target is Target.VIDEO:
        # The frames say what they now are; encoders take the tags from the frames, not from options.
        steps.append("setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv")
    return ",".join(steps)


def transcode_command(source: Source, media: MediaInfo, plan: Plan, out: Path, chunk: Chunk | None = None) -> list[str]:
    """Every rendition from one decode: the picture is converted once at the top rung's size, then
    scaled down rung by rung (each rung from the one above, which is cheaper than scaling each from
    the source) and ``-var_stream_map`` writes one fMP4 HLS playlist per rendition. Keyframes are
    forced every ``keyframe_seconds`` of output time, so they line up across renditions and every 6 s
    segment starts with one.

    With ``chunk``, the same for the chunk's time window only, video only (the audio is encoded once,
    by :func:`audio_command`): the input seeks to the chunk's start (to the keyframe before it, then
    decodes forward), the segments are numbered from the chunk's first, and their timestamps are the
    chunk's place on the whole video's timeline (plus TIMELINE_OFFSET_SECONDS, as in every chunk and
    the audio), written into each fragment (``frag_discont``), so the joined segments run on.

    With ``plan.copy_video`` (standard input, one piece), the top rung is the source's video as it is
    (stream copy, segmented at the source's keyframes) and the rungs below force their keyframes onto
    the source's; with ``plan.copy_audio`` every rung carries the source's AAC as it is."""
    renditions = plan.renditions
    with_audio = plan.has_audio and chunk is None
    arguments = _input(source) if chunk is None else _input(source, chunk.start_seconds, chunk.seconds)
    audio = f"0:{media.audio_stream}"
    audio_codec = ["-c:a", "copy"] if plan.copy_audio else _audio_options(None)
    copy_top = plan.copy_video and chunk is None
    if plan.audio_only:
        arguments += ["-map", audio, *_audio_options(0)]
        stream_map = "a:0,name:audio"
    else:
        graph = _ladder_graph(media, plan, copy_top)
        arguments += ["-filter_complex", graph] if graph else []  # nothing to encode: one copied rung
        maps = []
        for index, rendition in enumerate(renditions):
            copied = copy_top and index == 0
            arguments += ["-map", f"0:{media.video_stream}" if copied else f"[v{index}]"]
            if with_audio:
                arguments += ["-map", audio]
            maps.append(f"v:{index}" + (f",a:{index}" if with_audio else "") + f",name:{rendition.name}")
            if copied:
                arguments += [f"-c:v:{index}", "copy"]
                continue
            arguments += [
                f"-c:v:{index}", "libx264",
                f"-b:v:{index}", str(rendition.video_bitrate),
                f"-maxrate:v:{index}", str(int(rendition.video_bitrate * MAXRATE_SHARE)),
                f"-bufsize:v:{index}", str(rendition.video_bitrate * 2),
                f"-level:v:{index}", codecs_level(rendition.codecs),  # what the master's CODECS says
                *_per_stream(index, _x264_options(plan, copy_top)),
            ]  # fmt: skip
        if with_audio:
            arguments += audio_codec
        stream_map = " ".join(maps)
    if chunk is not None:
        arguments += ["-an", *_chunk_timeline(chunk.start_seconds), "-start_number", str(chunk.first_segment)]
    arguments += [*_hls_output(plan, short_start=chunk is None), "-hls_segment_filename",
                  str(out / "%v" / "segment_%05d.m4s"), "-var_stream_map", stream_map,
                  str(out / "%v" / "index.m3u8")]  # fmt: skip
    return _ffmpeg(*arguments)


def _x264_options(plan: Plan, copy_top: bool) -> list[str]:
    """x264's settings for an encoded rung (options without a stream specifier, see :func:`_per_stream`)."""
    if copy_top:
        # The rungs below take their keyframes from the source's (which the copied top rung keeps), and
        # no others, so that every rung is cut into segments at the same moments.
        keyframes = ["-g", str(plan.gop_frames * 100), "-keyint_min", "1", "-force_key_frames", "source"]
    else:
        gop = str(plan.gop_frames)
        keyframes = [
            "-g",
            gop,
            "-keyint_min",
            gop,
            "-force_key_frames",
            f"expr:gte(t,n_forced*{plan.keyframe_seconds})",
        ]
    return [
        "-preset", X264_PRESET_BELOW_COPY if copy_top else X264_PRESET, "-profile", "high", "-pix_fmt", "yuv420p",
        *BT709_TAGS, *keyframes, "-sc_threshold", "0",
    ]  # fmt: skip


def _per_stream(index: int, options: list[str]) -> list[str]:
    """``options`` for output video stream ``index`` only (a copied stream refuses encoder options)."""
    return [f"{item}:v:{index}" if position % 2 == 0 else item for position, item in enumerate(options)]


def _ladder_graph(media: MediaInfo, plan: Plan, copy_top: bool) -> str:
    """The filter graph: the picture converted once at the first encoded rung's size, then scaled down
    rung by rung (``[v<index>]`` per encoded rendition). Copied video is already at a constant rate."""
    steps = []
    renditions = plan.renditions
    first = 1 if copy_top else 0
    for index in range(first, len(renditions)):
        rendition = renditions[index]
        if index == first:
            fps = None if copy_top else plan.frame_rate
            top = picture_filter(media, rendition.width, rendition.height, Target.VIDEO, fps, keep_last_frame=False)
            step = f"[0:{media.video_stream}]{top}"
        else:
            step = f"[c{index - 1}]scale={rendition.width}:{rendition.height}:flags=bicubic"
        steps.append(step + (f"[v{index}]" if index == len(renditions) - 1 else f",split=2[v{index}][c{index}]"))
    return ";".join(steps)


# A video in one piece starts with short segments: the first is out (and the video playable) after
# 2 s of video are encoded rather than 6, and a player that starts early has a few small steps to load.
SHORT_SEGMENT_SECONDS = 2
# How many segments FFmpeg's playlist keeps (a window) once the short ones are done; FFmpeg makes this
# many plus one short segments, then segments of the plan's length (the first of them shorter by
# SHORT_SEGMENT_SECONDS). The pipeline keeps every segment FFmpeg has listed (render.SegmentLog).
SHORT_SEGMENTS_WINDOW = 3


def _hls_output(plan: Plan, short_start: bool = False) -> list[str]:
    """fMP4 HLS into the work folder. Segments and playlists are written whole, then renamed
    (``temp_file``), so that the pipeline can publish them while FFmpeg goes on (reelstack.pipeline.progressive);
    FFmpeg's own playlists are only read, never published. With ``short_start`` the first segments are
    SHORT_SEGMENT_SECONDS long (FFmpeg does that only for a playlist that drops old entries)."""
    if short_start:
        length = ["-hls_init_time", str(SHORT_SEGMENT_SECONDS), "-hls_list_size", str(SHORT_SEGMENTS_WINDOW)]
    else:
        length = ["-hls_playlist_type", "event"]  # every segment listed, and all of them of one length
    return [
        "-f", "hls", "-hls_time", str(plan.segment_seconds), *length, "-hls_segment_type",
        "fmp4", "-hls_flags", "independent_segments+temp_file", "-hls_fmp4_init_filename", "init.mp4",
    ]  # fmt: skip


def _chunk_timeline(start_seconds: float) -> list[str]:
    """Timestamps from ``start_seconds`` on the chunked timeline, kept in every fMP4 fragment (tfdt)."""
    return [
        "-output_ts_offset", f"{start_seconds + TIMELINE_OFFSET_SECONDS:.6f}",
        "-hls_segment_options", "movflags=+frag_discont",
    ]  # fmt: skip


def audio_command(source: Source, media: MediaInfo, plan: Plan, out: Path) -> list[str]:
    """The audio alone, once for the whole video, as the HLS audio rendition that chunked video plays
    with (``EXT-X-MEDIA``), on the chunks' timeline: ``out/audio/index.m3u8``."""
    return _ffmpeg(
        *_input(source), "-map", f"0:{media.audio_stream}", "-vn", *_audio_options(None),
        # The encoder's priming (one AAC frame) comes before the first picture, as when muxed: the first
        # sample heard is the one that goes with the first picture.
        *_chunk_timeline(0),
        *_hls_output(plan), "-hls_segment_filename", str(out / AUDIO_RENDITION / "segment_%05d.m4s"),
        str(out / AUDIO_RENDITION / "index.m3u8"),
    )  # fmt: skip


AUDIO_SAMPLE_RATE = 48000


def _audio_options(index: int | None) -> list[str]:
    suffix = f":{index}" if index is not None else ""
    return [f"-c:a{suffix}", "aac", f"-b:a{suffix}", "128k", "-ac", "2", "-ar", str(AUDIO_SAMPLE_RATE)]


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
    # A last stretch shorter than a tenth of a second (audio that outlasts the picture) gets no tile.
    span = max(duration_seconds - 0.1, 0.001)
    interval = float(max(1, math.ceil(span / STORYBOARD_MAX_TILES)))
    count = max(1, min(STORYBOARD_MAX_TILES, math.ceil(span / interval)))
    tile_width, tile_height = _fit(width, height, STORYBOARD_TILE_LONG_SIDE)
    return Storyboard(interval, tile_width, tile_height, min(STORYBOARD_COLUMNS, count), count)


def _fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    """At most ``long_side`` on the long side, never upscaled, even sizes (4:2:0 needs them)."""
    scale = min(1.0, long_side / max(width, height, 1))
    return even_size(width * scale), even_size(height * scale)


POSTER_LONG_SIDE = 1280


def poster_command(source: Path, media: MediaInfo, at_seconds: float, out: Path) -> list[str]:
    """One frame, found by seeking (not decoding from the start), at most 1280 on the long side.
    With ``at_seconds`` 0 it is the first frame that decodes (the fallback when the seek finds none)."""
    width, height = _fit(media.width, media.height, POSTER_LONG_SIDE)
    return _ffmpeg(
        *_input(source, seek=at_seconds), "-map", f"0:{media.video_stream}", "-frames:v", "1",
        "-vf", picture_filter(media, width, height, Target.JPEG), "-q:v", "3", str(out),
    )  # fmt: skip


def storyboard_command(source: Path, media: MediaInfo, board: Storyboard, out: Path) -> list[str]:
    """The sprite sheet. From keyframes only (``-skip_frame nokey``, no full decode) when they are at
    least as frequent as the tiles; otherwise every frame is decoded, so that a clip with one keyframe
    (or a long GOP) still shows a different picture on every tile instead of one picture repeated."""
    rows = math.ceil(board.count / board.columns)
    keyframes_only = 0 < media.max_keyframe_gap_seconds <= board.interval_seconds
    chain = picture_filter(media, board.tile_width, board.tile_height, Target.JPEG, fps=f"1/{board.interval_seconds}")
    return _ffmpeg(
        *(["-skip_frame", "nokey"] if keyframes_only else []), *_input(source),
        # Exactly one picture per cue: the fps filter's count at the end depends on rounding, so
        # the last picture is repeated to fill, and anything past the last cue is dropped.
        "-map", f"0:{media.video_stream}",
        "-vf", f"{chain},tpad=stop_mode=clone:stop={board.count},trim=end_frame={board.count},"
               f"tile={board.columns}x{rows}",
        "-frames:v", "1", "-q:v", "4", str(out),
    )  # fmt: skip


PREVIEW_SECONDS = 4.0
PREVIEW_FPS = "24"
PREVIEW_LONG_SIDE = 480
PREVIEW_MAX_BYTES = 400_000  # what a feed can autoplay on a phone without a thought
# The bitrate cap that keeps a preview under PREVIEW_MAX_BYTES, with a quarter kept for the MP4's own bytes.
PREVIEW_MAX_BITRATE = int(PREVIEW_MAX_BYTES * 8 * 0.75 / PREVIEW_SECONDS)
ANIMATED_SECONDS = 3.0
ANIMATED_LONG_SIDE = 320


def preview_window(duration_seconds: float, length: float) -> tuple[float, float]:
    """``(start, length)``: from a quarter in (past intros and titles), inside the video."""
    length = min(length, duration_seconds)
    start = min(duration_seconds * 0.25, max(0.0, duration_seconds - length))
    return start, length


def preview_command(source: Path, media: MediaInfo, out: Path) -> list[str]:
    """A short, muted, small MP4 that phones autoplay inline (H.264 Main, faststart, capped bitrate)."""
    start, length = preview_window(media.duration_seconds, PREVIEW_SECONDS)
    width, height = _fit(media.width, media.height, PREVIEW_LONG_SIDE)
    return _ffmpeg(
        *_input(source, seek=start), "-t", f"{length:.3f}", "-map", f"0:{media.video_stream}",
        "-vf", picture_filter(media, width, height, Target.VIDEO, fps=PREVIEW_FPS), "-an",
        "-c:v", "libx264", "-preset", X264_PRESET, "-profile:v", "main", "-pix_fmt", "yuv420p", *BT709_TAGS,
        "-crf", "30", "-maxrate", str(PREVIEW_MAX_BITRATE), "-bufsize", str(PREVIEW_MAX_BITRATE),
        "-movflags", "+faststart", str(out),
    )  # fmt: skip


def animated_command(source: Path, media: MediaInfo, out: Path) -> list[str]:
    """An animated WebP of the same moment, for places that cannot play video."""
    start, length = preview_window(media.duration_seconds, ANIMATED_SECONDS)
    width, height = _fit(media.width, media.height, ANIMATED_LONG_SIDE)
    return _ffmpeg(
        *_input(source, seek=start), "-t", f"{length:.3f}", "-map", f"0:{media.video_stream}",
        "-vf", picture_filter(media, width, height, Target.RGB, fps="10"), "-an",
        "-c:v", "libwebp_anim", "-quality", "50", "-loop", "0", str(out),
    )  # fmt: skip


# -- running the tools, and what their failures mean to a person --------------------------------------


@dataclass(frozen=True)
class Completed:
    stdout: str
    stderr: str


# The whitelists' refusals, which name what stopped them: the demuxer that the probe found for the
# file ("[png_pipe @ 0x55b0] Format not on whitelist 'mov,mp4,...'"), which says what the file is,
# or the protocol of an address the file names ("Protocol 'http' not on whitelist 'file'!").
_FORMAT_REFUSED = re.compile(r"\[([\w,]+) @ 0x[0-9a-f]+\] Format not on whitelist")
_PROTOCOL_REFUSED = re.compile(r"Protocol '([^']*)' not on whitelist")
# FFmpeg's complaints that say what is wrong with the file, as one sentence each, in order of precedence.
_FILE_PROBLEMS: tuple[tuple[re.Pattern[str], type[UnsupportedMedia] | type[MediaLimitExceeded], str, str], ...] = (
    (re.compile(r"moov atom not found", re.I), UnsupportedMedia, "Truncated",
     "the file is incomplete: its index is missing, which happens when a recording or an upload is cut short"),
    # FFmpeg's words for -max_pixels ("Picture size WxH exceeds specified max pixel count N"); a size
    # that "is invalid" (0x0) is a damaged header, not a big picture, and falls through to the rest.
    (re.compile(r"exceeds specified max pixel count", re.I), MediaLimitExceeded,
     "ResolutionTooHigh", "a frame of the video is larger than the pixel limit"),
    (re.compile(r"Decoder \(codec [^)]*\) not found|Unsupported codec|no decoder", re.I), UnsupportedMedia,
     "UnsupportedCodec", "the file uses a codec this pipeline cannot decode"),
    (re.compile(r"Decode error rate .* exceeds", re.I), UnsupportedMedia, "UnreadableMedia",
     "most of the file's frames are damaged and cannot be decoded"),
    # No demuxer recognised the file at all (render.inspect asks the file's bytes first).
    (re.compile(r"(Error opening input|^[^\[\n]*): Invalid data found when processing input", re.I | re.M),
     UnsupportedMedia, "NotMedia", identify.UNKNOWN.sentence),
)  # fmt: skip
# Lines a decoder writes for damaged data that it conceals and goes on from.
_DECODE_ERROR = re.compile(
    r"error while decoding|concealing|corrupt|Invalid NAL|Error submitting packet to decoder|decode_slice", re.I
)


def damaged_frames(stderr: str) -> int:
    """How many complaints about damaged data a decoder made while it carried on (0 for a clean file)."""
    return sum(1 for line in stderr.splitlines() if _DECODE_ERROR.search(line))


def explain(stderr: str, doing: str) -> UnsupportedMedia | MediaLimitExceeded:
    """A failed tool's stderr -> a named error whose message is one human sentence about the file."""
    if format_refused := _FORMAT_REFUSED.search(stderr):
        return identify.by_demuxer(format_refused.group(1)).refusal()
    if protocol_refused := _PROTOCOL_REFUSED.search(stderr):
        return identify.references(protocol_refused.group(1)).refusal()
    for pattern, error, code, sentence in _FILE_PROBLEMS:
        if pattern.search(stderr):
            return error(sentence, code=code)
    if damaged_frames(stderr):
        return UnsupportedMedia(f"the file is damaged: FFmpeg could not {doing}", code="UnreadableMedia")
    return UnsupportedMedia(
        f"FFmpeg could not {doing}: the file may be damaged or use a feature this pipeline does not support",
        code="UnreadableMedia",
    )


WATCH_SECONDS = 0.25  # how often ``watch`` is called while a tool runs


def run(
    command: list[str],
    timeout_seconds: float,
    workdir: Path,
    doing: str = "process the file",
    watch: Callable[[], None] | None = None,
    niceness: int = 0,
) -> Completed:
    """Run a tool; its output, or a named error. The end of its stderr goes to the log (with the
    function's keys, the asset id among them) for operators; clients get one sentence. ``watch`` is
    called every WATCH_SECONDS while the tool runs (to publish what it wrote so far); if it raises,
    the tool is stopped and the error goes on. ``niceness`` lowers the tool's CPU priority."""
    tool = Path(command[0]).name
    if timeout_seconds <= 1:
        raise OutOfTime(f"there was no time left to {doing}")
    if watch is None:
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_seconds, cwd=workdir,
                stdin=subprocess.DEVNULL, check=False, errors="replace",
                preexec_fn=_lower_priority(niceness),
            )  # fmt: skip
        except subprocess.TimeoutExpired as error:
            raise OutOfTime(f"processing ran out of time ({timeout_seconds:.0f} s) to {doing}") from error
    else:
        result = _run_watched(command, timeout_seconds, workdir, doing, watch, niceness)
    if result.returncode != 0:
        detail = (result.stderr or "").replace(str(workdir), "")[-2000:]
        log.warning("%s failed to %s (exit %s): %s", tool, doing, result.returncode, detail)
        if result.returncode < 0:
            raise ToolchainFailed(f"FFmpeg was stopped (signal {-result.returncode}) while trying to {doing}")
        raise explain(result.stderr or "", doing)
    return Completed(result.stdout, result.stderr or "")


def _lower_priority(niceness: int) -> Callable[[], None] | None:
    """What the child runs before the tool: a lower CPU priority (no threads are started in between)."""
    return (lambda: os.nice(niceness)) if niceness else None


def _run_watched(
    command: list[str], timeout_seconds: float, workdir: Path, doing: str, watch: Callable[[], None], niceness: int
) -> subprocess.CompletedProcess[str]:
    """:func:`run`'s tool with ``watch`` called while it runs; its output goes through files (a pipe
    that nobody reads while the tool writes would block it)."""
    deadline = time.monotonic() + timeout_seconds
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+", errors="replace") as stderr:
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, text=True, cwd=workdir,
            preexec_fn=_lower_priority(niceness),
        )  # fmt: skip
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise OutOfTime(f"processing ran out of time ({timeout_seconds:.0f} s) to {doing}")
                watch()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=WATCH_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, stdout.read(), stderr.read())


def probe(source: Path, timeout_seconds: float, workdir: Path) -> dict[str, Any]:
    return json.loads(run(probe_command(source), timeout_seconds, workdir, "read the file's header").stdout or "{}")
