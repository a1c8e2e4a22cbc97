"""What a derivative is: a recipe the pipeline follows by name. Each module of this package declares
its derivatives with :class:`Derivative`; :mod:`reelstack.derivatives` registers them and runs them.

A derivative says what it needs (the uploaded source, beside the ladder; or the published ladder,
once the asset is ready), which tools, what it makes (files and their content types), when it
applies (video, sound, asked for), where its result goes on the asset (the view's field, which
``asset.ready`` carries too) and the warning code the asset gets when it cannot be made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from reelstack.errors import AssetGone
from reelstack.media import ffmpeg, hls, render
from reelstack.media.probe import MediaInfo
from reelstack.pipeline.faults import stall_if_due
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import (
    RemainingMs,
    download_source,
    source_url,
    time_left,
    upload_outputs,
    work_folder,
)
from reelstack.store import assets
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import get_text
from reelstack.store.records import AssetModel
from reelstack.store.states import AssetStatus

Maker = Callable[[ffmpeg.Source, MediaInfo, Path, render.SecondsLeft], render.Made]
State = dict[str, Any]  # a Map iteration's input: {assetId, ownerId, name, source?, media?, error?}


class Needs(StrEnum):
    SOURCE = "source"  # the uploaded file: made beside the ladder, before the asset is ready
    LADDER = "ladder"  # the published renditions: made once the asset is ready, never re-encoded


@dataclass(frozen=True)
class Derivative:
    """One recipe. Subclasses implement :meth:`make` (and :meth:`failed` where a failure is recorded
    elsewhere than in the asset's warnings)."""

    name: str
    needs: Needs
    makes: Mapping[str, str]  # file name -> content type
    view_field: str  # the asset view's (and asset.ready's) field it fills
    warning: str  # the asset's warning code when it cannot be made
    tools: tuple[str, ...] = ("ffmpeg",)
    requested: bool = False  # made only when asked for (downloads); else whenever it applies

    def refusal(self, has_video: bool, has_audio: bool) -> str | None:
        """Why a file with (or without) a picture and sound gets none (a sentence); None when it applies."""
        return None

    def wanted(self, media: MediaInfo) -> bool:
        """Whether the source has anything to make it of (the source's subtitle tracks); True for most."""
        return True

    def asked(self, asset: AssetModel) -> bool:
        """Whether the owner asked for it (a derivative made only when asked: :attr:`requested`)."""
        return False

    def refuse(self, asset_id: str, owner_id: str, reason: str) -> None:
        """It was asked for but cannot apply (:meth:`refusal`): record why where the owner looks."""

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        """Make it; the result that Publish (or the asset record) keeps."""
        raise NotImplementedError

    def stored(self, result: dict[str, Any]) -> Any:
        """What Publish writes in the asset's :attr:`view_field` from :meth:`make`'s result (a
        derivative of the ladder writes its own entry instead, once it is made)."""
        return None

    def failed(self, state: State) -> dict[str, Any]:
        """The Map's Catch handed over ``state["error"]`` ({Error, Cause}): by default Publish turns it
        into the warning :attr:`warning` (the video itself is fine)."""
        return {"name": self.name, "error": state["error"]}


def from_source(
    job: Job, remaining_ms: RemainingMs, folder: str, prefix: str, maker: Maker, whole: bool = True
) -> render.Made:
    """Download the source (or, not ``whole``, hand over its presigned URL for FFmpeg to read the parts
    it seeks to), let ``maker(source, media, out, seconds_left)`` write into a work folder, upload
    what it wrote under ``prefix``."""
    media = job.described()
    with work_folder() as work:
        source = download_source(job, work) if whole else source_url(job)
        out = work / folder
        out.mkdir()
        made = maker(source, media, out, time_left(remaining_ms))
        stall_if_due(f"stall:{folder}", job.asset_id)  # a slow step, for the race tests (FAULT_INJECTION)
        upload_outputs(job.asset_id, out, prefix)
    return made


# -- what a derivative of the ladder reads ------------------------------------------------------------


def ready_asset(asset_id: str) -> AssetModel:
    """The asset, ready; AssetGone if it was deleted (or is not ready) meanwhile."""
    asset = assets.read_consistent(asset_id)
    if asset is None or asset.status != AssetStatus.READY:
        raise AssetGone("the asset is no longer ready")
    return asset


def published_ladder(keys: MediaKeys) -> tuple[list[hls.Variant], str | None]:
    """The renditions the master playlist names, largest first, and the sound's own rendition if any."""
    return hls.master_variants(get_text(keys.master_playlist) or "")


def rendition_segments(keys: MediaKeys, playlist: str) -> tuple[str, list[hls.Segment]]:
    """A rendition's init segment and its segments with their seconds, in order, as media bucket keys
    (``playlist`` as the master names it, relative to it)."""
    folder = f"{keys.hls_prefix}{playlist.rsplit('/', 1)[0]}/"
    text = get_text(f"{keys.hls_prefix}{playlist}") or ""
    return folder + hls.playlist_init(text), [(folder + name, seconds) for name, seconds in hls.playlist_segments(text)]
