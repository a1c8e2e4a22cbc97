"""Asset records: the caller's, their status now, and moving it only along states.ASSET_TRANSITIONS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pynamodb.exceptions import DoesNotExist

from reelstack.errors import AssetGone, NotFound
from reelstack.store.records import AssetModel, Change, ErrorAttribute, commit, conditional, owned_record, utc_now
from reelstack.store.states import AssetStatus, may_become

if TYPE_CHECKING:
    from reelstack.store.events import Event


def owned_asset(owner_id: str, asset_id: str) -> AssetModel:
    """The caller's asset; a deleted one is not found either."""
    asset = owned_record(AssetModel, owner_id, asset_id, "AssetNotFound")
    if asset.status == AssetStatus.DELETED:
        raise NotFound(f"nothing called {asset_id!r} here", code="AssetNotFound")
    return asset


def read_consistent(asset_id: str) -> AssetModel | None:
    """The asset as DynamoDB has it now (a consistent read); None if there is no such asset."""
    try:
        return AssetModel.get(asset_id, consistent_read=True)
    except DoesNotExist:
        return None


def status_now(asset_id: str) -> str | None:
    """The asset's status as DynamoDB has it now (a consistent read); None if there is no such asset."""
    asset = read_consistent(asset_id)
    return asset.status if asset else None


def move(
    asset_id: str,
    status: AssetStatus,
    *,
    step: str | None = None,
    error: ErrorAttribute | None = None,
    now: str | None = None,
    only_from: tuple[AssetStatus, ...] | None = None,
    announcing: Event | None = None,
) -> bool:
    """Move the asset to ``status`` if it is in a state that may (states.ASSET_TRANSITIONS), narrowed
    to ``only_from`` where the caller knows more (an upload's end only ever moves an asset still
    uploading); False if it is not (it moved on already, or this is a repeat). Whoever gets True
    announces the change: ``announcing`` is recorded in the outbox with the move (one transaction),
    and the caller publishes it (reelstack.store.events)."""
    origins = may_become(status)
    if only_from is not None:
        if not set(only_from) <= set(origins):
            raise ValueError(f"no asset moves from {sorted(set(only_from) - set(origins))} to {status}")
        origins = only_from
    if not origins:  # nothing moves into "uploading": an asset is created in it
        return False
    actions = [AssetModel.status.set(status), AssetModel.updated_at.set(now or utc_now())]
    actions.append(AssetModel.step.set(step) if step else AssetModel.step.remove())
    if status != AssetStatus.READY:
        actions.append(AssetModel.feed.remove())  # only shared (public, ready) assets are in the feed
    if error is not None:
        actions.append(AssetModel.error.set(error))
    if announcing is not None:
        change = Change(AssetModel(asset_id), actions, AssetModel.status.is_in(*origins), (announcing.outbox_item(),))
        return commit(change, "the asset")
    return conditional(
        lambda: AssetModel(asset_id).update(actions=actions, condition=AssetModel.status.is_in(*origins)),
        "the asset",
    )


def mark_playable(asset_id: str, master: str, announcing: Event) -> bool:
    """The processing asset becomes playable with its master playlist, once: True for the one caller
    who made it so (``announcing`` is in the outbox with it; the caller publishes it)."""
    change = Change(
        AssetModel(asset_id),
        [AssetModel.playable.set(True), AssetModel.hls.set({"master": master})],
        (AssetModel.status == AssetStatus.PROCESSING) & AssetModel.playable.does_not_exist(),
        (announcing.outbox_item(),),
    )
    return commit(change, "the asset")


def record_source_size(asset_id: str, size: int) -> None:
    """The source's size, once the bytes are in, for an upload whose client never declared it."""
    conditional(
        lambda: AssetModel(asset_id).update(
            actions=[AssetModel.source.size.set(size)], condition=AssetModel.asset_id.exists()
        ),
        "the asset",
    )


def strike_once(asset_id: str, fault: str) -> bool:
    """Record that an injected ``fault`` struck the asset: True the first time only (FAULT_INJECTION's
    faults strike once per asset, so that the retry that follows succeeds)."""
    return conditional(
        lambda: AssetModel(asset_id).update(
            actions=[AssetModel.injected_faults.add({fault})],
            condition=AssetModel.injected_faults.does_not_exist() | ~AssetModel.injected_faults.contains(fault),
        ),
        "the asset",
    )


def record_chunk(asset_id: str, index: int) -> AssetModel:
    """Add ``index`` to the chunks done (a retried chunk adds it again: a set); the record as it is now,
    so that of two chunks finishing together, the later write sees both."""
    return _ledger(asset_id, AssetModel.chunks_done.add({index}))


Stream = Literal["video", "audio"]  # what chunked video publishes while it encodes: its first chunk, its audio


def record_started(asset_id: str, stream: Stream) -> AssetModel:
    """``stream`` has its first segments published; the record as it is now (of the video and the
    audio starting together, the later write sees both)."""
    return _ledger(asset_id, AssetModel.streams_started.add({stream}))


def record_audio(asset_id: str) -> AssetModel:
    """The chunked video's audio rendition is done; the record as it is now."""
    return _ledger(asset_id, AssetModel.audio_done.set(True))


def raise_published(asset_id: str, chunks: int) -> AssetModel | None:
    """Players now get the playlists of ``chunks`` chunks (written before), if they got fewer and the
    asset is still processing: the record as it is now, else None."""
    asset = AssetModel(asset_id)
    raised = conditional(
        lambda: asset.update(
            actions=[AssetModel.published_chunks.set(chunks)],
            condition=(AssetModel.status == AssetStatus.PROCESSING)
            & (AssetModel.published_chunks.does_not_exist() | (AssetModel.published_chunks < chunks)),
        ),
        "the asset",
    )
    return asset if raised else None


def _ledger(asset_id: str, action: object) -> AssetModel:
    asset = AssetModel(asset_id)
    if not conditional(
        lambda: asset.update(actions=[action], condition=AssetModel.status == AssetStatus.PROCESSING), "the asset"
    ):
        raise AssetGone(f"asset {asset_id} is no longer processing")
    return asset
