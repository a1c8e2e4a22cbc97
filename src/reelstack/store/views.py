"""Assets as clients see them: the contract's shape of an asset record, with signed media URLs."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from reelstack import aws
from reelstack.config import deployment
from reelstack.store.records import AssetModel
from reelstack.store.states import AssetStatus, Visibility

SIGNED_URL_SECONDS = 3600
DOWNLOAD_URL_SECONDS = 900  # a download's URL: long enough to start saving it, short enough not to share

PlaybackUrl = Callable[[AssetModel], dict[str, str]]
# What others never see of a shared asset: the file it came from, and the owner's own notes on it.
_OWNER_ONLY = ("source", "warnings", "error", "step")


def asset_view(asset: AssetModel, playback: PlaybackUrl | None = None) -> dict[str, Any]:
    """The contract's asset. ``playback`` makes the playable URL (the API's playback endpoint);
    without it (in events) ``playback.hls`` is a signed URL of the master playlist alone."""
    view: dict[str, Any] = {
        "assetId": asset.asset_id,
        "ownerId": asset.owner_id,
        "status": asset.status,
        "title": asset.title or "",
        "description": asset.description or "",
        "tags": list(asset.tags or []),
        "visibility": asset.visibility or Visibility.PRIVATE,
        "createdAt": asset.created_at,
        "updatedAt": asset.updated_at,
    }
    if asset.made_public_at:
        view["madePublicAt"] = asset.made_public_at
    if asset.poster_time is not None:
        view["posterTime"] = float(asset.poster_time)
    if asset.source:
        view["source"] = {
            "filename": asset.source.filename,
            "size": None if asset.source.size is None else int(asset.source.size),
            "contentType": asset.source.content_type,
            **({"sha256": asset.source.sha256} if asset.source.sha256 else {}),
        }
    if asset.media:
        view["media"] = plain(asset.media)
    tracks = [plain(track) for track in asset.audio_tracks or []]
    tracks += [track_view(track_id, entry) for track_id, entry in text_tracks(asset).items()]
    if tracks:
        view["tracks"] = tracks
    if asset.status == AssetStatus.PROCESSING and asset.step:
        view["step"] = asset.step
    view["playable"] = is_playable(asset)
    if asset.status == AssetStatus.READY:
        view.update(_media_locations(asset))
        if asset.warnings:
            view["warnings"] = [plain(warning) for warning in asset.warnings]
    elif view["playable"] and asset.hls:
        # Playable while the rest is still being made: the playlists grow until the asset is ready.
        view["playback"] = {"hls": signed_get_url(deployment().media_bucket, plain(asset.hls)["master"])}
    if playback is not None and "playback" in view:
        view["playback"] = {"hls": playback(asset)["hls"]}
    if asset.error:
        view["error"] = {"code": asset.error.code, "message": asset.error.message}
    return view


def public_view(asset: AssetModel, playback: PlaybackUrl | None, links: dict[str, str]) -> dict[str, Any]:
    """A shared asset as others see it (and the feed lists it): no source file name or upload, the owner
    by id only; its poster and previews by ``links`` (reelstack.sharing.public_links: the API's
    redirects, which end with the sharing), no storyboard, and renditions without playlist URLs (the
    playback URL plays them)."""
    view = asset_view(asset, playback)
    for field in _OWNER_ONLY:
        view.pop(field, None)
    view["renditions"] = [
        {key: value for key, value in rendition.items() if key != "playlist"}
        for rendition in view.get("renditions", [])
    ]
    if "poster.jpg" in links:
        view["thumbnails"] = {"poster": links["poster.jpg"]}
    else:
        view.pop("thumbnails", None)
    if "previews" in view and "reason" not in view["previews"]:  # audio only keeps its reason
        view["previews"] = {"video": links.get("preview.mp4"), "animated": links.get("preview.webp")}
    if not asset.public_downloads:  # the owner's choice (publicDownloads), off by default
        view.pop("downloads", None)
    # Text tracks others can play: the ready ones (a preparing or failed one is the owner's business).
    view["tracks"] = [track for track in view.get("tracks", []) if track.get("type") != "text"
                      or track.get("status") == "ready"]  # fmt: skip
    if not view["tracks"]:
        del view["tracks"]
    return view


_TRACK_FIELDS = ("type", "languageCode", "name", "kind", "source", "status", "error")


def text_tracks(asset: AssetModel) -> dict[str, dict[str, Any]]:
    """The asset's caption and subtitle tracks by id, as stored, oldest first (the source's own in the
    file's order; reelstack.derivatives.captions)."""
    stored = {track_id: plain(entry) for track_id, entry in plain(asset.text_tracks).items()}
    return dict(sorted(stored.items(), key=lambda item: (item[1].get("createdAt") or "",
                                                         int(item[1].get("stream") or 0), item[0])))  # fmt: skip


def track_view(track_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A text track as the contract shows it: ``{trackId, type, languageCode, name, kind, source, status, error?}``."""
    return {"trackId": track_id, **{name: plain(entry[name]) if name == "error" else entry[name]
                                    for name in _TRACK_FIELDS if entry.get(name) is not None}}  # fmt: skip


def is_playable(asset: AssetModel) -> bool:
    """A player can start: every rung has its first segments (the playlists may still grow), or it is ready."""
    return asset.status == AssetStatus.READY or (asset.status == AssetStatus.PROCESSING and bool(asset.playable))


def _media_locations(asset: AssetModel) -> dict[str, Any]:
    """Renditions, playback and thumbnails with short-lived signed URLs (the media bucket is private).

    A signed master URL opens the master playlist only: the playlists' relative URIs to variants and
    segments are not signed. Players use the API's playback URL instead (reelstack.api.playback),
    which the routes put in ``playback.hls``; events carry this signed master URL.
    """
    sign = functools.partial(signed_get_url, deployment().media_bucket)
    locations: dict[str, Any] = {
        "renditions": [
            {**plain(rendition), "playlist": sign(plain(rendition)["playlist"])} for rendition in asset.renditions or []
        ]
    }
    if asset.hls:
        locations["playback"] = {"hls": sign(plain(asset.hls)["master"])}
    if asset.thumbnails:
        thumbnails = plain(asset.thumbnails)
        locations["thumbnails"] = {
            "poster": sign(thumbnails["poster"]),
            **(
                {"storyboard": {name: sign(key) for name, key in thumbnails["storyboard"].items()}}
                if thumbnails.get("storyboard")
                else {}
            ),
        }
    if asset.previews:
        locations["previews"] = {name: key and sign(key) for name, key in plain(asset.previews).items()}
    elif asset.media and not plain(asset.media).get("hasVideo"):
        locations["previews"] = {"video": None, "animated": None, "reason": "audio only: there is no picture"}
    if asset.downloads:
        locations["downloads"] = download_entries(asset)
    return locations


def download_entries(asset: AssetModel) -> list[dict[str, Any]]:
    """The contract's ``downloads``: ``{name, status, url?, bytes?, width?, height?, message?}`` by name;
    a ready one's URL is a short-lived signed GET that saves the file under the asset's title."""
    entries = []
    for name, stored in sorted(plain(asset.downloads).items()):
        entry = plain(stored)
        shown: dict[str, Any] = {"name": name, "status": entry.get("status")}
        if entry.get("status") == "ready" and entry.get("key"):
            extension = entry["key"].rsplit(".", 1)[-1]
            stem = "" if name == "highest" else f" ({name})"
            shown["url"] = signed_get_url(
                deployment().media_bucket, entry["key"], DOWNLOAD_URL_SECONDS,
                attachment=attachment_name(asset.title or "", f"{stem}.{extension}"),
            )  # fmt: skip
        shown |= {field: int(entry[field]) for field in ("bytes", "width", "height") if entry.get(field) is not None}
        if entry.get("message"):
            shown["message"] = entry["message"]
        entries.append(shown)
    return entries


_UNSAFE_IN_NAME = re.compile(r"[^\w .,()+-]+")


def attachment_name(title: str, ending: str) -> str:
    """A file name from the title that every system saves as is: letters, digits, spaces and a few
    marks; no path, no control or reserved characters, at most 100 characters; "video" if none is left."""
    stem = " ".join(_UNSAFE_IN_NAME.sub(" ", title).split()).strip(" .")[:100].strip(" .") or "video"
    return stem + ending


def plain(value: Any) -> dict[str, Any]:
    """A raw MapAttribute (or the dict pynamodb gives inside lists) as a plain dict; None as an empty one."""
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


def signed_get_url(bucket: str, key: str, seconds: int = SIGNED_URL_SECONDS, attachment: str | None = None) -> str:
    """A presigned GET; with ``attachment`` (a file name) the answer says to save it under that name."""
    params = {"Bucket": bucket, "Key": key}
    if attachment:
        ascii_name = attachment.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
        params["ResponseContentDisposition"] = (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(attachment, safe='')}"
        )
    return aws.presigning_s3().generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
