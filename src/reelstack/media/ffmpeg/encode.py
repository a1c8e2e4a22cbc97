"""The encode commands: the HLS ladder in one process, a chunk of it, and the audio of chunked video."""

from __future__ import annotations

from pathlib import Path

from reelstack.media.chunks import TIMELINE_OFFSET_SECONDS, Chunk
from reelstack.media.ffmpeg.hardened import Source, ffmpeg_command, input_arguments
from reelstack.media.ffmpeg.picture import BT709_TAGS, Target, picture_filter
from reelstack.media.hls import AUDIO_RENDITION
from reelstack.media.ladder import MAXRATE_SHARE, Plan, codecs_level
from reelstack.media.probe import MediaInfo

X264_PRESET = "veryfast"
# Under a copied top rung (standard input) the rungs below are a weak link's fallback, and the whole
# encode is theirs: superfast takes about a quarter less CPU than veryfast for them (bench playable).
X264_PRESET_BELOW_COPY = "superfast"


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
    the audio), written into each fragment (``frag_discont``), so the joined segments run on. The
    first chunk starts with short segments, as a video in one piece does (it is published while it
    encodes), named apart from the grid's (:func:`segment_stem`).

    With ``plan.copy_video`` (standard input, one piece), the top rung is the source's video as it is
    (stream copy, segmented at the source's keyframes) and the rungs below force their keyframes onto
    the source's; with ``plan.copy_audio`` every rung carries the source's AAC as it is."""
    renditions = plan.renditions
    with_audio = plan.has_audio and chunk is None
    arguments = (
        input_arguments(source) if chunk is None else input_arguments(source, chunk.start_seconds, chunk.seconds)
    )
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
    arguments += [*_hls_output(plan, short_start=chunk is None or chunk.index == 0), "-hls_segment_filename",
                  str(out / "%v" / f"{segment_stem(chunk)}_%05d.m4s"), "-var_stream_map", stream_map,
                  str(out / "%v" / "index.m3u8")]  # fmt: skip
    return ffmpeg_command(*arguments)


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


# The first chunk's segments: its short first segments do not fit the plan's 6 s grid, on which the
# other chunks number theirs (segment_<n>.m4s from the chunk's first_segment), so they are named apart.
FIRST_CHUNK_STEM = "start"


def segment_stem(chunk: Chunk | None) -> str:
    """How the segments of ``chunk`` (None: a video in one piece) are named: ``<stem>_00000.m4s``..."""
    return FIRST_CHUNK_STEM if chunk is not None and chunk.index == 0 else "segment"


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
    return ffmpeg_command(
        *input_arguments(source), "-map", f"0:{media.audio_stream}", "-vn", *_audio_options(None),
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
