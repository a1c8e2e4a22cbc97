"""The encode commands: the HLS ladder in one process, a chunk of it, and the audio of chunked video."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reelstack.media.chunks import TIMELINE_OFFSET_SECONDS, Chunk
from reelstack.media.ffmpeg.hardened import Source, ffmpeg_command, input_arguments
from reelstack.media.ffmpeg.picture import BT709_TAGS, Target, picture_filter
from reelstack.media.ladder import MAXRATE_SHARE, Plan, codecs_level
from reelstack.media.loudness import SAMPLE_RATE, TrackLevel
from reelstack.media.probe import MediaInfo

X264_PRESET = "veryfast"
# Under a copied top rung (standard input) the rungs below are a weak link's fallback, and the whole
# encode is theirs: superfast takes about a quarter less CPU than veryfast for them (bench playable).
X264_PRESET_BELOW_COPY = "superfast"


def transcode_command(
    source: Source, media: MediaInfo, plan: Plan, out: Path, chunk: Chunk | None = None, levels: Levels = ()
) -> list[str]:
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
    the source's; with ``plan.copy_audio`` every rung carries the source's AAC as it is.

    One audio track goes in every rendition; several (``plan.separate_audio``) are audio renditions
    of their own, after the video's. ``levels`` (in one piece) evens out each track's loudness and
    measures what comes out (:func:`_level_outputs`)."""
    renditions = plan.renditions
    whole = chunk is None
    arguments = input_arguments(source) if whole else input_arguments(source, chunk.start_seconds, chunk.seconds)
    copy_top = plan.copy_video and whole
    if plan.audio_only:
        arguments += ["-map", f"0:{_audio_streams(media, plan)[0]}", *_audio_options(None)]
        stream_map = "a:0,name:audio"
    else:
        muxed = plan.has_audio and whole and not plan.separate_audio
        graph = _ladder_graph(media, plan, copy_top)
        arguments += ["-filter_complex", graph] if graph else []  # nothing to encode: one copied rung
        maps = []
        for index, rendition in enumerate(renditions):
            copied = copy_top and index == 0
            arguments += ["-map", f"0:{media.video_stream}" if copied else f"[v{index}]"]
            if muxed:
                arguments += ["-map", f"0:{_audio_streams(media, plan)[0]}"]
            maps.append(f"v:{index}" + (f",a:{index}" if muxed else "") + f",name:{rendition.name}")
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
        if plan.separate_audio and whole:
            for index, audio in enumerate(plan.audio_renditions):
                arguments += ["-map", f"0:{audio.stream}"]
                maps.append(f"a:{index},name:{audio.name}")
        if plan.has_audio and whole:
            arguments += ["-c:a", "copy"] if plan.copy_audio else _audio_options(None)
        stream_map = " ".join(maps)
    arguments += _level_filters(plan, levels)
    if not whole:
        arguments += ["-an", *_chunk_timeline(chunk.start_seconds), "-start_number", str(chunk.first_segment)]
    arguments += [*_hls_output(plan, short_start=chunk is None or chunk.index == 0), "-hls_segment_filename",
                  str(out / "%v" / f"{segment_stem(chunk)}_%05d.m4s"), "-var_stream_map", stream_map,
                  str(out / "%v" / "index.m3u8")]  # fmt: skip
    return ffmpeg_command(*arguments, *_level_outputs(levels))


Levels = Sequence[TrackLevel]


def _audio_streams(media: MediaInfo, plan: Plan) -> list[int]:
    """The source's audio streams the encode carries (a plan from before tracks were kept: the chosen one)."""
    return [audio.stream for audio in plan.audio_renditions] or [media.audio_stream]


def _level_filters(plan: Plan, levels: Levels) -> list[str]:
    """Each output audio stream's filters where its track's level changes (``-filter:a:N``): one
    track in every rendition takes the same, audio renditions each their track's."""
    changed = {level.stream: level.chain() for level in levels if level.filters}
    if not changed:
        return []
    if not plan.separate_audio:
        return ["-filter:a", next(iter(changed.values()))]
    return [
        argument
        for index, audio in enumerate(plan.audio_renditions)
        if audio.stream in changed
        for argument in (f"-filter:a:{index}", changed[audio.stream])
    ]


def _level_outputs(levels: Levels) -> list[str]:
    """A side output per track that measures what the encode gives it (reelstack.media.loudness): the
    audio decoded once more, in the same process, as fast as the encode reads the file."""
    return [
        argument
        for level in levels
        for argument in ("-map", f"0:{level.stream}", "-vn", "-af", level.measuring(), "-f", "null", "-")
    ]


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


def audio_command(source: Source, media: MediaInfo, plan: Plan, out: Path, levels: Levels = ()) -> list[str]:
    """The audio alone, once for the whole video, as the HLS audio renditions that chunked video plays
    with (``EXT-X-MEDIA``), on the chunks' timeline: ``out/audio/index.m3u8`` (and ``out/audio2/``...
    for the other kept tracks); ``levels`` as in :func:`transcode_command`."""
    arguments = [*input_arguments(source)]
    for audio in plan.audio_renditions:
        arguments += ["-map", f"0:{audio.stream}"]
    stream_map = " ".join(f"a:{index},name:{audio.name}" for index, audio in enumerate(plan.audio_renditions))
    return ffmpeg_command(
        *arguments, "-vn", *_audio_options(None), *_level_filters(plan, levels),
        # The encoder's priming (one AAC frame) comes before the first picture, as when muxed: the first
        # sample heard is the one that goes with the first picture.
        *_chunk_timeline(0),
        *_hls_output(plan), "-hls_segment_filename", str(out / "%v" / "segment_%05d.m4s"),
        "-var_stream_map", stream_map, str(out / "%v" / "index.m3u8"), *_level_outputs(levels),
    )  # fmt: skip


def measure_command(source: Source, levels: Levels) -> list[str]:
    """The first pass of evening out: each track measured (audio alone, nothing written but the figures)."""
    return ffmpeg_command(*input_arguments(source), *_level_outputs(levels))


AUDIO_SAMPLE_RATE = SAMPLE_RATE


def _audio_options(index: int | None) -> list[str]:
    suffix = f":{index}" if index is not None else ""
    return [f"-c:a{suffix}", "aac", f"-b:a{suffix}", "128k", "-ac", "2", "-ar", str(AUDIO_SAMPLE_RATE)]
