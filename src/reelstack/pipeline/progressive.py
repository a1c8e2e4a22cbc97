"""Playable in seconds: the ladder is published while it is being encoded.

In one piece, :class:`LadderPublisher` is told what FFmpeg has finished (reelstack.media.render's
SegmentLog, every quarter second): every segment goes to the media bucket as soon as FFmpeg closes
it, and each rendition's EVENT playlist (reelstack.media.hls) is rewritten when it has grown, which
is at least once a segment (1 target duration). Once every rung
has its first segment the master goes up and the asset becomes playable (``asset.playable``, once).

In chunks, the first chunk and the audio rendition are published the same way while they encode
(:class:`StreamPublisher`); each records on the asset that it has started, and whichever is second
puts up the master and makes the asset playable: the playable moment does not depend on how long a
chunk is. Until the first chunk is done, players get the playlists it writes as it goes.

Chunks finish in any order. Each records its completion on the asset (a set in DynamoDB,
written atomically; the write returns the record as it is after it, so of two chunks finishing at
once the later write sees both). Whoever sees a contiguous prefix of finished chunks longer than the
published one writes that prefix's playlists under keys of their own (never overwritten), then
raises ``publishedChunks`` with a conditional write; the playback route serves the playlists the
counter names, so what players get only grows, whichever writer is slow. In one piece a retried step
starts from what is already published.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from reelstack.config import deployment
from reelstack.errors import AssetGone, ToolchainFailed
from reelstack.media import hls, render
from reelstack.media.ladder import Plan
from reelstack.pipeline.job import Job
from reelstack.store import assets, events
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix, get_document, get_text, put_texts, upload_files
from reelstack.store.records import AssetModel
from reelstack.store.states import is_gone
from reelstack.store.views import asset_view

STATUS_CHECK_SECONDS = 2.0  # how often a running encode looks whether its asset was deleted or failed


def announce_playable(job: Job, asset: AssetModel | None = None) -> bool:
    """The asset becomes playable and ``asset.playable`` goes out, once (whoever gets there first).
    ``asset``: the record as this step's own write returned it, if it has one (one read fewer)."""
    asset = asset or assets.read_consistent(job.asset_id)
    if asset is None or asset.playable:
        return False
    master = MediaKeys(job.asset_id).master_playlist
    asset.playable, asset.hls = True, {"master": master}  # the asset as the write below makes it
    playable = events.event(
        EventType.ASSET_PLAYABLE, job.asset_id, job.owner_id, playback=asset_view(asset).get("playback")
    )
    if not assets.mark_playable(job.asset_id, master, announcing=playable):
        return False
    events.publish(playable)
    return True


PLAYABLE_POLL_SECONDS = 0.25


def not_yet_playable(asset_id: str, seconds: float, clock: Callable[[], float] = time.monotonic) -> Callable[[], bool]:
    """A question a step beside the first segments asks as it goes: is the asset still processing and
    not yet playable, within ``seconds`` from now? Once it says no, it says no for good."""
    deadline, done = clock() + seconds, False

    def waiting() -> bool:
        nonlocal done
        if not done and clock() < deadline:
            asset = assets.read_consistent(asset_id)
            if asset is not None and not asset.playable and not is_gone(asset.status):
                return True
        done = True
        return False

    return waiting


def yield_until_playable(
    asset_id: str,
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until the asset is playable (or no longer processing), at most ``seconds``: the extras let
    the first segments have the CPU where functions share it (ExtrasYieldSeconds)."""
    waiting = not_yet_playable(asset_id, seconds, clock)
    while waiting():
        sleep(PLAYABLE_POLL_SECONDS)


YIELD_SHARE = 0.1  # of its own time, at most, a step beside the first segments waits for them


def yield_for_first_segments(asset_id: str, remaining_ms: Callable[[], int]) -> None:
    """:func:`yield_until_playable` for a step that needs its time afterwards (a chunk after the first,
    Verify source): ExtrasYieldSeconds at most, and at most a share of what the step has left."""
    yield_until_playable(asset_id, min(deployment().extras_yield_seconds, remaining_ms() / 1000 * YIELD_SHARE))


def fence(asset_id: str, prefix: str) -> None:
    """If the asset was deleted or failed while this step wrote under ``prefix``, remove it all and raise
    :class:`AssetGone`. Whoever deletes moves the status first and deletes after: anything this step
    wrote before this check is either deleted by them or by this."""
    status = assets.status_now(asset_id)
    if is_gone(status):
        delete_prefix(prefix)
        raise AssetGone(f"the asset became {status or 'unknown'} while this step ran; its outputs were removed")


def published_segments(key: str) -> int:
    """How many segments the published playlist at ``key`` lists (0 if none is published)."""
    text = get_text(key)
    return len(hls.playlist_segments(text)) if text else 0


class SegmentPublisher:
    """Called while FFmpeg encodes (a reelstack.media.render function's ``watch``) with what it has
    finished of the renditions ``names``: every segment goes to the media bucket as soon as FFmpeg
    closes it, and each rendition's EVENT playlist is rewritten when it has grown; :meth:`started`
    once every rendition has its first segment, :meth:`finish` once FFmpeg is done."""

    def __init__(self, job: Job, plan: Plan, out: Path, names: list[str]) -> None:
        self.job, self.plan, self.out = job, plan, out
        self.keys = MediaKeys(job.asset_id)
        self.sent: set[str] = set()
        self.names = names
        self._listed: dict[str, int] | None = None
        self.playable = False  # every rendition has its first segment published
        self.checked = time.monotonic()

    @property
    def listed(self) -> dict[str, int]:
        """How many segments each rendition's published playlist lists. A retried step must not publish
        fewer than a player may already have seen; read once, while FFmpeg encodes (not before)."""
        if self._listed is None:
            self._listed = {name: published_segments(self.keys.media_playlist(name)) for name in self.names}
        return self._listed

    def __call__(self, progress: dict[str, render.Progress]) -> None:
        self._send(progress)
        if all(done.segments for done in progress.values()):
            self._publish(progress, ended=False)
        if time.monotonic() - self.checked > STATUS_CHECK_SECONDS:
            self.checked = time.monotonic()
            fence(self.job.asset_id, self.keys.hls_prefix)

    def finish(self, progress: dict[str, render.Progress], ended: bool = True) -> int:
        """The rest of the segments and the playlists, closed (``#EXT-X-ENDLIST``) if ``ended``, once
        FFmpeg is done (``progress`` is all it made); how many objects went up."""
        short = [name for name, done in progress.items() if len(done.segments) < self.listed[name]]
        if short:  # a retry that cut the video differently: never take segments back from players
            raise ToolchainFailed(f"the encode made fewer segments than were published ({', '.join(short)})")
        self._send(progress)
        self._publish(progress, ended=ended)
        fence(self.job.asset_id, self.keys.hls_prefix)
        return len(self.sent) + len(self.listed)

    def playlists(self, progress: dict[str, render.Progress], ended: bool) -> dict[str, str]:
        """What to publish for ``progress`` (relative path -> text): each rendition's playlist."""
        return {
            f"{name}/index.m3u8": hls.event_playlist(done.segments, done.init or "init.mp4", self.plan.target_duration,
                                                     ended)
            for name, done in progress.items()
        }  # fmt: skip

    def started(self) -> None:
        """Every rendition has its first segment published (once per step)."""

    def _send(self, progress: dict[str, render.Progress]) -> None:
        files = []
        for name, done in progress.items():
            for file in ([done.init] if done.init else []) + [segment for segment, _ in done.segments]:
                relative = f"{name}/{file}"
                if relative not in self.sent:
                    files.append((self.out / relative, self.keys.hls_prefix + relative))
                    self.sent.add(relative)
        if files:
            upload_files(files)

    def _publish(self, progress: dict[str, render.Progress], ended: bool) -> None:
        grown = [name for name, done in progress.items() if len(done.segments) > self.listed[name] or ended]
        if not grown and self.playable:
            return
        texts = self.playlists(progress, ended)
        chosen = {f"{name}/index.m3u8" for name in grown}
        if ended or not self.playable:
            chosen.add("master.m3u8")
        put_texts({self.keys.hls_prefix + name: text for name, text in texts.items() if name in chosen})
        for name in grown:
            self.listed[name] = len(progress[name].segments)
        if not self.playable:
            self.playable = True
            self.started()


class LadderPublisher(SegmentPublisher):
    """A video in one piece: the master goes up with the first segments, and the asset becomes
    playable then."""

    def __init__(self, job: Job, plan: Plan, out: Path) -> None:
        super().__init__(job, plan, out, plan.playlists)

    def finish(self, progress: dict[str, render.Progress], ended: bool = True) -> int:
        return super().finish(progress, ended) + 1  # and the master

    def playlists(self, progress: dict[str, render.Progress], ended: bool) -> dict[str, str]:
        return render.ladder_playlists(self.plan, self.out, progress, ended)

    def started(self) -> None:
        announce_playable(self.job)


class StreamPublisher(SegmentPublisher):
    """Chunked video's first chunk (the video renditions) or its audio rendition, published as it
    encodes: once every rendition has its first segment the stream is recorded as started on the
    asset, and whichever of the two is second puts up the master and makes the asset playable. Its
    playlists stay open: the chunks' own (MediaKeys.partial_playlist), then the join's, follow on."""

    def __init__(self, job: Job, plan: Plan, out: Path, stream: assets.Stream) -> None:
        names = [a.name for a in plan.audio_renditions] if stream == "audio" else [r.name for r in plan.renditions]
        super().__init__(job, plan, out, names)
        self.stream = stream

    def started(self) -> None:
        _playable_if_started(self.job, assets.record_started(self.job.asset_id, self.stream))


# -- chunked encoding --------------------------------------------------------------------------------


def chunk_done(job: Job, index: int) -> None:
    """Chunk ``index`` is in the media bucket (its segments and its report): record it, and publish
    the playlists if it extends the prefix of finished chunks."""
    _extend(job, assets.record_chunk(job.asset_id, index))


def audio_done(job: Job) -> None:
    """The chunked video's audio rendition is in the media bucket, its playlist closed."""
    _extend(job, assets.record_audio(job.asset_id))


def _prefix(done: set[int] | None) -> int:
    count = 0
    while count in (done or set()):
        count += 1
    return count


def _extend(job: Job, asset: AssetModel) -> None:
    """Publish the prefix of finished chunks that ``asset`` (the record after this step's write) shows,
    if it is longer than what players get, then the master and ``asset.playable`` if this makes a
    start possible. Whatever this wrote goes again if the asset went meanwhile."""
    plan, keys = job.planned(), MediaKeys(job.asset_id)
    prefix = _prefix(asset.chunks_done)
    if prefix > int(asset.published_chunks or 0):
        _write_partial_playlists(keys, plan, prefix)
        # Written first, raised after: the counter never names a playlist that is not whole, and it
        # only grows, so what players get only grows whatever order the chunks finish in.
        asset = assets.raise_published(job.asset_id, prefix) or AssetModel.get(job.asset_id, consistent_read=True)
    _playable_if_started(job, asset)
    fence(job.asset_id, keys.prefix)


def _playable_if_started(job: Job, asset: AssetModel) -> None:
    """The master and ``asset.playable`` once ``asset`` (the record after this step's write) shows the
    video and its audio started: the first chunk's first segments published, or a prefix of chunks;
    the audio's first segment, or all of it."""
    plan, started = job.planned(), asset.streams_started or set()
    video = bool(asset.published_chunks) or "video" in started
    audio = bool(asset.audio_done) or "audio" in started or not plan.has_audio
    if video and audio and not asset.playable:
        put_texts({MediaKeys(job.asset_id).master_playlist: hls.master_playlist(plan)})
        announce_playable(job, asset)


def _write_partial_playlists(keys: MediaKeys, plan: Plan, chunks: int) -> None:
    """The video renditions' playlists of the first ``chunks`` chunks (closed when that is all), each
    under its own key (MediaKeys.partial_playlist): nothing a player may be reading is overwritten."""
    reports = [get_document(keys.chunk_report(index))["segments"] for index in range(chunks)]
    texts = render.joined_playlists(plan, reports, ended=chunks == len(plan.chunks))
    put_texts({keys.partial_playlist(r.name, chunks): texts[f"{r.name}/index.m3u8"] for r in plan.renditions})
