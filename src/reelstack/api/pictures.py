"""Pictures on demand over HTTP: ``GET /assets/{id}/thumbnail.jpg?...`` (the owner) and the same
under ``/watch/{id}/`` (a shared asset, no token). A picture stored already is a redirect at once;
a new one is rendered first (reelstack.derivatives.pictures), counted against the asset's and the
owner's hour (429 with Retry-After past it). The redirect lives as long as a segment's."""

from __future__ import annotations

from collections.abc import Mapping

from reelstack import derivatives, sharing
from reelstack.api import playback, throttle
from reelstack.config import deployment
from reelstack.derivatives import pictures
from reelstack.errors import Conflict
from reelstack.store import assets, objects
from reelstack.store.keys import MediaKeys
from reelstack.store.records import AssetModel
from reelstack.store.states import AssetStatus
from reelstack.store.views import plain, signed_get_url

PRIVATE_CACHE_CONTROL = f"private, max-age={playback.CDN_SECONDS}"


def owners_picture(caller: str, asset_id: str, file: str, query: Mapping[str, str]) -> playback.Served:
    return _served(assets.owned_asset(caller, asset_id), file, query, PRIVATE_CACHE_CONTROL)


def shared_picture(asset_id: str, file: str, query: Mapping[str, str]) -> playback.Served:
    """A shared asset's picture for anyone; 404 the moment it is private again (as its poster)."""
    return _served(sharing.visible_asset("", asset_id), file, query, playback.SHARED_CACHE_CONTROL)


def is_picture(file: str) -> bool:
    return file.partition(".")[0] in ("thumbnail", "animated")


def _served(asset: AssetModel, file: str, query: Mapping[str, str], cache_control: str) -> playback.Served:
    if asset.status != AssetStatus.READY:
        raise Conflict(f"the asset is {asset.status}: its pictures come once it is ready", code="AssetNotReady")
    picture = pictures.parse(file, query, float(plain(asset.media).get("durationSeconds") or 0))
    key = MediaKeys(asset.asset_id).picture(picture.file_name)
    if not objects.exists(key):
        throttle.admit_render(asset.asset_id, str(asset.owner_id))
        derivatives.render_picture(asset.asset_id, str(asset.owner_id), picture)
    location = signed_get_url(deployment().media_bucket, key, playback.SEGMENT_URL_SECONDS)
    return playback.Served("", cache_control, location=location)
