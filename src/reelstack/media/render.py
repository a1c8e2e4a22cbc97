"""What the pipeline makes of a source file on local disk: its description, the HLS ladder, the
thumbnails and the previews. No AWS here: the steps in :mod:`reelstack.pipeline.steps` download the source,
call these and upload what they wrote, and the tests drive them directly on a matrix of real files.

The ladder is what an asset is for; everything else is an extra. An extra that cannot be made from
this file becomes a :class:`AssetWarning` on the asset instead of failing it, except the poster, which
falls back to the first frame that decodes (the contract promises one for every video).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelstack.errors import MediaLimitExceeded, OutOfTime, ToolchainFailed, UnsupportedMedia
from reelstack.media import ffmpeg, fmp4, hls, identify
from reelstack.media.chunks import Chunk
from reelstack.media.ladder import Plan
from reelstack.media.limits import MediaLimits, check_header
from reelstack.media.loudness import Loudness, TrackLevel, level_filter, read_report
from reelstack.media.packets import parse_packet_scan
from reelstack.media.probe import MediaInfo, describe

SecondsLeft = Callable[[], float]
POSTER_MOMENT_SECONDS = 3.0  # at most this far in, or a tenth of the video (past fades from black)


@dataclass(frozen=True)
class AssetWarning:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Made:
    """Files written into the output folder, what could not be made, and the FFmpeg seconds spent."""

    files: dict[str, int] = field(default_factory=dict)  # name -> bytes
    warnings: list[AssetWarning] = field(default_factory=list)
    ffmpeg_seconds: float = 0.0
    progress: dict[str, Progress] = field(default_factory=dict)  # the ladder's segments (encode_ladder)
    loudness: dict[str, Any] | None = None  # media.loudness, where the audio was encoded (AudioLevels.figures)


def inspect(
    source: Path, seconds_left: SecondsLeft, work: Path, limits: MediaLimits | None = None, header_copy: bool = False
) -> MediaInfo:
    """Header and packet scan (no decoding), then the limits: a :class:`MediaInfo` or a named error.
    ``header_copy``: ``source`` is an MP4/MOV's header copy (reelstack.media.boxes), its packets read
    from the index."""
    try:
        header = ffmpeg.read_header(source, seconds_left(), work)
    except UnsupportedMedia as refused:
        named = identify.refusal(source, refused)  # names what the file is instead
        if named is refused:
            raise
        raise named from refused
    limits = limits or MediaLimits()
    check_header(header, limits)  # refuse what the header shows before reading every packet
    videos = frozenset(int(s["index"]) for s in header.get("streams") or [] if s.get("codec_type") == "video")
    scan = ffmpeg.run(ffmpeg.packet_scan_command(source, from_index=header_copy), seconds_left(), work,
                      "read the file's packets")  # fmt: skip
    return describe(header, parse_packet_scan(scan.stdout, keyframe_streams=videos), limits)


def encode_ladder(
    source: Path,
    media: MediaInfo,
    plan: Plan,
    out: Path,
    seconds_left: SecondsLeft,
    watch: Callable[[dict[str, Progress]], None] | None = None,
) -> Made:
    """Every rendition and the master playlist into ``out`` (one folder per rendition); ``watch`` is
    called with what FFmpeg has finished so far (:class:`SegmentLog`) while it writes. A decoder that
    met damaged data and concealed it is a warning: the video plays, with a glitch where it was hurt.
    The audio's loudness is measured in the same process (and evened out first if the plan says so):
    ``made.loudness``."""
    started = time.monotonic()
    segments = SegmentLog(plan, out, seconds_left)

    def tick() -> None:
        progress = segments.update()
        if watch:
            watch(progress)

    levels = audio_levels(source, plan, out.parent, seconds_left)
    done = ffmpeg.run(ffmpeg.transcode_command(source, media, plan, out, levels=levels.encode), seconds_left(),
                      out.parent, "encode the HLS ladder", tick)  # fmt: skip
    progress = segments.update()
    for name, text in ladder_playlists(plan, out, progress, ended=True).items():
        (out / name).write_text(text)
    made = Made(files=_sizes(out), ffmpeg_seconds=time.monotonic() - started, progress=progress)
    made.loudness = levels.figures(plan)
    _warn_if_damaged(made, done.stderr)
    return made


@dataclass(frozen=True)
class AudioLevels:
    """The encode's :class:`TrackLevel` for each kept track, and what the first pass measured (when
    the audio is evened out)."""

    encode: list[TrackLevel]
    before: dict[int, Loudness | None]

    def figures(self, plan: Plan) -> dict[str, Any] | None:
        """``media.loudness`` (reelstack.media.loudness): the default track's figures as the source
        has them, and, evened out, ``normalized`` with the figures after and the target."""
        if not self.encode:
            return None
        default = self.encode[0]
        after = read_report(default.report.read_text()) if default.report.exists() else None
        target = plan.loudness_target
        if target is None:
            return after.view() if after else None
        before = self.before.get(default.stream)
        if before is None:
            return None
        normalized = {**(after.view() if after else {}), "targetLufs": target.integrated_lufs,
                      "ceilingDbtp": target.true_peak_dbtp, "applied": bool(default.filters)}  # fmt: skip
        return {**before.view(), "normalized": normalized}


def audio_levels(source: ffmpeg.Source, plan: Plan, work: Path, seconds_left: SecondsLeft) -> AudioLevels:
    """What the encode does to each kept track's level. Measured only, unless the plan evens the audio
    out: then the first pass measures every track (audio alone) and each gets its own gain."""
    streams = [audio.stream for audio in plan.audio_renditions] if plan.has_audio else []
    after = {stream: work / f"loudness-{stream}.txt" for stream in streams}
    if plan.loudness_target is None or not streams:
        return AudioLevels([TrackLevel(stream, "", after[stream]) for stream in streams], {})
    first = [TrackLevel(stream, "", work / f"loudness-source-{stream}.txt") for stream in streams]
    ffmpeg.run(ffmpeg.measure_command(source, first), seconds_left(), work, "measure the audio's loudness")
    before = {level.stream: read_report(level.report.read_text()) if level.report.exists() else None
              for level in first}  # fmt: skip
    encode = [
        TrackLevel(stream, level_filter(found, plan.loudness_target) if found else "", after[stream])
        for stream, found in before.items()
    ]
    return AudioLevels(encode, before)


@dataclass(frozen=True)
class Progress:
    """What FFmpeg has finished of one rendition so far: its init segment and whole segments, in order."""

    init: str | None
    segments: list[hls.Segment]


_SEGMENT_NUMBER = re.compile(r"_(\d+)\.m4s$")


class SegmentLog:
    """Every segment FFmpeg has finished, per rendition (the plan's, or those ``names``). FFmpeg
    rewrites each rendition's playlist (whole, by rename) as it closes a segment, but lists only its
    last few when it makes short first segments (ffmpeg.SHORT_SEGMENTS_WINDOW): this keeps what it
    listed before. A segment that left the window before it was read (whoever calls :meth:`update`
    was slow) is measured from its file."""

    def __init__(
        self,
        plan: Plan,
        out: Path,
        seconds_left: SecondsLeft,
        names: list[str] | None = None,
        chunk: Chunk | None = None,
    ) -> None:
        self.plan, self.out, self.seconds_left = plan, out, seconds_left
        # A chunk's segments are numbered from its first, and named after it (ffmpeg.segment_stem).
        self.stem, self.first = ffmpeg.segment_stem(chunk), chunk.first_segment if chunk else 0
        self.names = names if names is not None else plan.playlists
        self.init: dict[str, str] = {}
        self.seen: dict[str, dict[int, hls.Segment]] = {name: {} for name in self.names}

    @property
    def started(self) -> bool:
        """Every rendition had a finished segment at the last :meth:`update`."""
        return all(self.seen.values())

    def update(self) -> dict[str, Progress]:
        progress = {}
        for name in self.names:
            seen = self.seen[name]
            playlist = self.out / name / "index.m3u8"
            text = playlist.read_text() if playlist.exists() else ""
            for segment in hls.playlist_segments(text):
                seen[_number(segment[0])] = segment
            if seen and name not in self.init:
                self.init[name] = hls.playlist_init(text)
            for missing in sorted(set(range(self.first, max(seen, default=-1))) - set(seen)):
                seen[missing] = self._measure(name, f"{self.stem}_{missing:05d}.m4s")
            progress[name] = Progress(self.init.get(name), [seen[number] for number in sorted(seen)])
        return progress

    def _measure(self, rendition: str, segment: str) -> hls.Segment:
        """A segment's length from its own boxes (reelstack.media.fmp4: the first track's samples, the
        video or the audio alone), as FFmpeg's playlist would have said: no ffprobe in this function."""
        folder = self.out / rendition
        init = self.init.get(rendition) or _init_name(folder)
        try:
            seconds = fmp4.segment_seconds((folder / init).read_bytes(), (folder / segment).read_bytes())
        except (OSError, fmp4.Fmp4Error) as error:
            raise ToolchainFailed(f"FFmpeg's segment {rendition}/{segment} could not be read: {error}") from error
        return segment, round(seconds, 6)


def _init_name(folder: Path) -> str:
    """The init segment FFmpeg wrote in ``folder`` (``init.mp4``, or ``init_<n>.mp4`` per variant)."""
    found = sorted(path.name for path in folder.glob("init*.mp4"))
    if len(found) != 1:
        raise ToolchainFailed(f"FFmpeg wrote {len(found)} init segments in {folder.name}, not one")
    return found[0]


def _number(segment: str) -> int:
    found = _SEGMENT_NUMBER.search(segment)
    if not found:
        raise ToolchainFailed(f"FFmpeg named a segment {segment!r}, not <name>_NNNNN.m4s")
    return int(found.group(1))


def ladder_playlists(plan: Plan, out: Path, progress: dict[str, Progress], ended: bool) -> dict[str, str]:
    """The playlists to publish for ``progress`` (relative path -> text): each rendition's EVENT
    playlist, and the master, with a copied rendition's bandwidth and codecs measured from its files."""
    texts, measured = {}, {}
    for name in plan.playlists:
        done = progress[name]
        texts[f"{name}/index.m3u8"] = hls.event_playlist(done.segments, done.init or "init.mp4", plan.target_duration,
                                                         ended)  # fmt: skip
    top = plan.renditions[0]
    done = progress[top.name]
    if plan.copy_video and done.init:
        folder = out / top.name
        sizes = [((folder / name).stat().st_size, seconds) for name, seconds in done.segments]
        init = (folder / done.init).read_bytes()
        measured[top.name] = hls.measure(sizes, init, plan.target_duration / 2, ended)
    texts["master.m3u8"] = hls.master_playlist(plan, measured)
    return texts


# What a chunk made of one rendition: its init segment's name and its segments with their durations.
ChunkPart = dict[str, Any]


Watch = Callable[[dict[str, Progress]], None]  # told what FFmpeg has finished so far


def chunk_renditions(
    source: ffmpeg.Source,
    media: MediaInfo,
    plan: Plan,
    chunk: Chunk,
    out: Path,
    seconds_left: SecondsLeft,
    watch: Watch | None = None,
) -> tuple[Made, dict[str, ChunkPart]]:
    """One chunk of every rendition (video only) into ``out/<rendition>/``: globally numbered segments
    and the rendition's init segment (the same bytes from every chunk); returns what was made and, per
    rendition, ``{init, segments}`` for the join. ``watch`` is told what FFmpeg has finished while it
    writes (the first chunk is published as it encodes). The chunk's own playlists are not kept."""
    started = time.monotonic()
    log = SegmentLog(plan, out, seconds_left, names=[r.name for r in plan.renditions], chunk=chunk)
    tick = (lambda: watch(log.update())) if watch else None
    done = ffmpeg.run(ffmpeg.transcode_command(source, media, plan, out, chunk), seconds_left(), out.parent,
                      f"encode the video from {chunk.start_seconds:.0f} s to {chunk.end_seconds:.0f} s",
                      tick)  # fmt: skip
    progress = log.update()
    for rendition in plan.renditions:
        (out / rendition.name / "index.m3u8").unlink()
    segments: dict[str, ChunkPart] = {
        name: {"init": part.init or "init.mp4", "segments": part.segments} for name, part in progress.items()
    }
    made = Made(files=_sizes(out), ffmpeg_seconds=time.monotonic() - started, progress=progress)
    _warn_if_damaged(made, done.stderr)
    return made, segments


def audio_rendition(
    source: ffmpeg.Source,
    media: MediaInfo,
    plan: Plan,
    out: Path,
    seconds_left: SecondsLeft,
    watch: Watch | None = None,
    hold_while: Callable[[], bool] | None = None,
) -> Made:
    """The audio renditions of chunked video with sound (``out/audio/``, ``out/audio2/``...), their
    playlists closed and their loudness measured (and evened out first if the plan says so); nothing
    for a silent video. ``watch`` is told what FFmpeg has finished while it writes; once its first
    segments are out, FFmpeg stops while ``hold_while`` says so (the first chunk's are still coming)."""
    started = time.monotonic()
    made = Made()
    if plan.has_audio and not plan.audio_only:
        names = [audio.name for audio in plan.audio_renditions]
        for name in names:
            (out / name).mkdir(parents=True, exist_ok=True)
        log = SegmentLog(plan, out, seconds_left, names=names)
        tick = (lambda: watch(log.update())) if watch else None
        levels = audio_levels(source, plan, out.parent, seconds_left)
        # Its first segments are what a player waits for, as the first chunk's: ahead for the cores until
        # they are published (watch), then stopped until the first chunk's are (hold_while), then behind
        # the chunks (it reads the whole source). Niced from the start, it waited seconds for them on a
        # busy machine; niced after them only, it still took the first chunk's idle moments (2 s of CPU).
        ffmpeg.run(ffmpeg.audio_command(source, media, plan, out, levels.encode), seconds_left(), out.parent,
                   "encode the audio", tick, niceness=EXTRAS_NICENESS, yield_when=lambda: log.started,
                   hold_while=hold_while)  # fmt: skip
        made.progress = log.update()
        for name, done in made.progress.items():
            (out / name / "index.m3u8").write_text(
                hls.event_playlist(done.segments, done.init or "init.mp4", plan.target_duration, ended=True)
            )
        made.loudness = levels.figures(plan)
    made.files, made.ffmpeg_seconds = _sizes(out), time.monotonic() - started
    return made


def write_joined_playlists(plan: Plan, chunks: list[dict[str, ChunkPart]], out: Path) -> None:
    """Each rendition's media playlist from its chunks' segments, in order, and the master playlist."""
    for name, text in joined_playlists(plan, chunks, ended=True).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)


def joined_playlists(plan: Plan, chunks: list[dict[str, ChunkPart]], ended: bool) -> dict[str, str]:
    """The EVENT playlists of the first ``len(chunks)`` chunks (relative path -> text), and the master."""
    texts = {}
    for rendition in plan.renditions:
        segments = [
            (str(name), float(seconds)) for chunk in chunks for name, seconds in chunk[rendition.name]["segments"]
        ]
        init = chunks[0][rendition.name]["init"]
        texts[f"{rendition.name}/index.m3u8"] = hls.event_playlist(segments, init, plan.target_duration, ended)
    texts["master.m3u8"] = hls.master_playlist(plan)
    return texts


def _warn_if_damaged(made: Made, stderr: str) -> None:
    if ffmpeg.damaged_frames(stderr):
        made.warnings.append(
            AssetWarning("DamagedFrames", "part of the video is damaged; it plays, with glitches where the damage is")
        )


STORYBOARD_MARGIN_SECONDS = 15


def make_thumbnails(source: Path, media: MediaInfo, out: Path, seconds_left: SecondsLeft) -> Made:
    """``poster.jpg`` (a seek to a tenth in, else the first frame that decodes) and the storyboard
    (``storyboard.jpg`` with ``storyboard.vtt``), which is an extra."""
    made = Made()
    started = time.monotonic()
    moment = min(media.duration_seconds * 0.1, POSTER_MOMENT_SECONDS)
    poster = out / "poster.jpg"
    try:
        _run_for(ffmpeg.poster_command(source, media, moment, poster), poster, seconds_left, out, "make the poster")
    except (UnsupportedMedia, MediaLimitExceeded):
        if not moment:
            raise
        # Damage where the seek landed, or a stream that ends early: the first frame that decodes.
        _run_for(ffmpeg.poster_command(source, media, 0, poster), poster, seconds_left, out, "make the poster")
    board = ffmpeg.plan_storyboard(media.duration_seconds, media.width, media.height)
    sheet = out / "storyboard.jpg"
    # The storyboard may have to decode every frame (sparse keyframes): it gets what is left but a
    # margin, so that running out of time costs the storyboard, never the poster made above.
    budget = lambda: seconds_left() - STORYBOARD_MARGIN_SECONDS  # noqa: E731
    try:
        _run_for(ffmpeg.storyboard_command(source, media, board, sheet), sheet, budget, out,
                 "make the storyboard")  # fmt: skip
        (out / "storyboard.vtt").write_text(board.vtt(sheet.name, media.duration_seconds))
    except (UnsupportedMedia, MediaLimitExceeded, OutOfTime, ToolchainFailed) as error:
        sheet.unlink(missing_ok=True)
        made.warnings.append(AssetWarning("NoStoryboard", f"there is no storyboard: {error.message}"))
    made.files, made.ffmpeg_seconds = _sizes(out), time.monotonic() - started
    return made


def make_previews(source: ffmpeg.Source, media: MediaInfo, out: Path, seconds_left: SecondsLeft) -> Made:
    """``preview.mp4`` (muted, short, small) and ``preview.webp`` (animated), each an extra."""
    made = Made()
    started = time.monotonic()
    if _both_previews(source, media, out, seconds_left):
        made.files, made.ffmpeg_seconds = _sizes(out), time.monotonic() - started
        return made
    for name, command, what in (
        ("preview.mp4", ffmpeg.preview_command, "make the preview video"),
        ("preview.webp", ffmpeg.animated_command, "make the animated preview"),
    ):
        target = out / name
        try:
            _run_for(command(source, media, target), target, seconds_left, out, what)
        except (UnsupportedMedia, MediaLimitExceeded) as error:
            target.unlink(missing_ok=True)
            code = "NoPreviewVideo" if name.endswith(".mp4") else "NoAnimatedPreview"
            made.warnings.append(AssetWarning(code, f"there is no {what.removeprefix('make the ')}: {error.message}"))
    made.files, made.ffmpeg_seconds = _sizes(out), time.monotonic() - started
    return made


def _both_previews(source: ffmpeg.Source, media: MediaInfo, out: Path, seconds_left: SecondsLeft) -> bool:
    """Both previews from one FFmpeg run, if it can make both; else nothing is left behind, and each is
    made on its own (with its own warning if it cannot be)."""
    command = ffmpeg.previews_command(source, media, out / "preview.mp4", out / "preview.webp")
    if command is None:
        return False
    try:
        _run_for(command, out / "preview.mp4", seconds_left, out, "make the previews")
    except (UnsupportedMedia, MediaLimitExceeded):
        pass
    else:
        if _wrote(out / "preview.webp"):
            return True
    for name in ("preview.mp4", "preview.webp"):
        (out / name).unlink(missing_ok=True)
    return False


# Pictures are extras: where they share CPUs with the ladder (the local cloud's processes on one
# machine) the ladder goes first, so that the first segments, and playback, come sooner. On Lambda
# each function has CPUs of its own and this changes nothing.
EXTRAS_NICENESS = 10


def _run_for(command: list[str], target: Path, seconds_left: SecondsLeft, work: Path, doing: str) -> None:
    """Run ``command``; a run that succeeds but writes nothing (no frame decoded) is a failure too."""
    ffmpeg.run(command, seconds_left(), work, doing, niceness=EXTRAS_NICENESS)
    if not _wrote(target):
        target.unlink(missing_ok=True)
        raise UnsupportedMedia(f"no frame of the video could be decoded to {doing}", code="UnreadableVideo")


def _wrote(target: Path) -> bool:
    """FFmpeg wrote something to ``target`` (it can succeed without decoding a frame)."""
    return target.exists() and target.stat().st_size > 0


def _sizes(folder: Path) -> dict[str, Any]:
    return {str(path.relative_to(folder)): path.stat().st_size for path in sorted(folder.rglob("*")) if path.is_file()}
