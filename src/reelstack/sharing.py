"""Public assets: who may see an asset, the visibility switch, and the feed.

- An asset is *shared* while it is public and ready. Then every signed-in user reads its public view
  (reelstack.store.views.public_view) and plays it, and it is in the feed.
- The feed is the sparse ``Feed`` index: only shared assets carry its ``feed`` key. It is read newest
  made-public first, and every item is read again from the table (a consistent read) before it is
  returned, so a delete or a switch to private that the index has not caught up with never shows.
- Going private raises the asset's playback version: every playback URL handed out before names the
  old version and is refused (reelstack.api.playback).
"""

from __future__ import annotations

import re
from typing import Any

from reelstack.errors import NotFound
from reelstack.paging import decode_cursor, encode_cursor, page_size
from reelstack.store import assets
from reelstack.store.keys import is_id
from reelstack.store.records import AssetModel, conditional, utc_now
from reelstack.store.states import AssetStatus, Visibility
from reelstack.store.views import PlaybackUrl, plain, public_view

FEED_PARTITION = "public"
FEED_ROUNDS = 5  # index pages read to fill one feed page past stale entries; then a short page
# A shared asset's pictures, by the name the API serves them under (GET /watch/{id}/<name>, a redirect
# checked against sharing each time): where the asset record keeps each.
SHARED_MEDIA = {
    "poster.jpg": ("thumbnails", "poster"),
    "preview.mp4": ("previews", "video"),
    "preview.webp": ("previews", "animated"),
}
_MADE_PUBLIC_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def is_shared(asset: AssetModel) -> bool:
    return asset.status == AssetStatus.READY and asset.visibility == Visibility.PUBLIC


def visible_asset(caller: str, asset_id: str) -> AssetModel:
    """The asset if ``caller`` may see it: their own (not deleted), or anyone's shared one. Else
    NotFound, the same for someone else's private asset as for no asset (never reveal it exists)."""
    asset = assets.read_consistent(asset_id) if is_id(asset_id) else None
    if asset is None or asset.status == AssetStatus.DELETED or (asset.owner_id != caller and not is_shared(asset)):
        raise NotFound(f"nothing called {asset_id[:64]!r} here", code="AssetNotFound")
    return asset


def stored_media(asset: AssetModel, name: str) -> str | None:
    """The media bucket key of the picture SHARED_MEDIA calls ``name``, if the asset has it."""
    group, field = SHARED_MEDIA[name]
    return plain(getattr(asset, group)).get(field)


def share_page_url(asset: AssetModel, api_base: str) -> str:
    """``GET /watch/{id}``: the page a shared link opens; its pictures are beneath it."""
    return f"{api_base}/watch/{asset.asset_id}"


def public_links(asset: AssetModel, api_base: str) -> dict[str, str]:
    """The shared asset's pictures as others get them: the API's redirects, the same for everyone and
    dead the moment the asset is no longer shared (a presigned URL would live on)."""
    page = share_page_url(asset, api_base)
    return {name: f"{page}/{name}" for name in SHARED_MEDIA if stored_media(asset, name)}


def shared_view(asset: AssetModel, playback: PlaybackUrl | None, api_base: str) -> dict[str, Any]:
    return public_view(asset, playback, public_links(asset, api_base))


def visibility_actions(asset: AssetModel, visibility: str) -> list[Any]:
    """The writes that switch ``asset`` to ``visibility``; none when it already is."""
    if visibility == (asset.visibility or Visibility.PRIVATE):
        return []
    if visibility == Visibility.PUBLIC:
        return [AssetModel.visibility.set(Visibility.PUBLIC), AssetModel.made_public_at.set(utc_now())]
    return [
        AssetModel.visibility.set(Visibility.PRIVATE),
        AssetModel.made_public_at.remove(),
        AssetModel.feed.remove(),
        AssetModel.playback_version.add(1),  # revokes every playback URL handed out so far
    ]


def visibility_is(visibility: str) -> Any:
    """The condition that the asset's visibility is still ``visibility`` (no attribute: private)."""
    if visibility == Visibility.PUBLIC:
        return AssetModel.visibility == Visibility.PUBLIC
    return AssetModel.visibility.does_not_exist() | (AssetModel.visibility == Visibility.PRIVATE)


def list_in_feed(asset_id: str) -> bool:
    """Put the asset in the feed if it is shared now. Both writers of those two facts (the owner making
    it public, the pipeline making it ready) call this after their own write, so whichever comes
    second lists it; a switch to private in between makes the condition fail."""
    return conditional(
        lambda: AssetModel(asset_id).update(
            actions=[AssetModel.feed.set(FEED_PARTITION)],
            condition=(AssetModel.status == AssetStatus.READY)
            & (AssetModel.visibility == Visibility.PUBLIC)
            & AssetModel.made_public_at.exists()
            & AssetModel.feed.does_not_exist(),
        ),
        "the asset",
    )


def _feed_cursor(key: Any) -> bool:
    return (
        isinstance(key, dict)
        and set(key) == {"assetId", "feed", "madePublicAt"}
        and all(
            isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str) for value in key.values()
        )
        and key["feed"]["S"] == FEED_PARTITION
        and is_id(key["assetId"]["S"])
        and bool(_MADE_PUBLIC_AT.fullmatch(key["madePublicAt"]["S"]))
    )


def feed(
    api_base: str, limit: str | None = None, cursor: str | None = None, playback: PlaybackUrl | None = None
) -> dict[str, Any]:
    """``{items, nextCursor}``: shared assets of every owner, newest made-public first, in their public view."""
    wanted = page_size(limit)
    start = decode_cursor(cursor, _feed_cursor) if cursor else None
    items: list[dict[str, Any]] = []
    for _ in range(FEED_ROUNDS):
        results = AssetModel.in_feed.query(
            FEED_PARTITION,
            scan_index_forward=False,
            limit=wanted - len(items),
            page_size=wanted - len(items),
            last_evaluated_key=start,
        )
        listed = [(entry.asset_id, entry.made_public_at) for entry in results]
        start = results.last_evaluated_key
        if listed:
            now = {
                asset.asset_id: asset for asset in AssetModel.batch_get([i for i, _ in listed], consistent_read=True)
            }
            items += [
                shared_view(now[asset_id], playback, api_base)
                for asset_id, made_public_at in listed
                # Still shared, and this is its place now (made public again later: it is further up).
                if asset_id in now and is_shared(now[asset_id]) and now[asset_id].made_public_at == made_public_at
            ]
        if not start or len(items) >= wanted:
            break
    return {"items": items, "nextCursor": encode_cursor(start) if start else None}
