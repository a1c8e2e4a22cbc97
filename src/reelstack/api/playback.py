"""Playback of private assets by stock players (hls.js, AVPlayer, ExoPlayer), which cannot send a
bearer token: the playback URL carries its own short-lived signed token, and the API serves the
asset's playlists with every segment URI turned into a presigned S3 URL that dies with the token.

``GET /assets/{id}/playback`` (authenticated) -> ``{hls: <api>/playback/<token>/master.m3u8, expiresAt}``
``GET /playback/<token>/master.m3u8``          -> the master, variant URIs left relative
``GET /playback/<token>/<rendition>/index.m3u8`` -> the media playlist, init and segments presigned

The media bucket stays private. On AWS the documented alternative is CloudFront with signed cookies
in front of the media bucket, which serves the unmodified playlists.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import jwt
from botocore.exceptions import ClientError

from reelstack import aws
from reelstack.config import deployment
from reelstack.errors import NotFound, ReelstackError, StorageUnavailable
from reelstack.store.assets import owned_asset
from reelstack.store.keys import MediaKeys, is_id
from reelstack.store.objects import get_text
from reelstack.store.records import AssetModel, iso
from reelstack.store.states import AssetStatus
from reelstack.store.views import is_playable

PLAYBACK_SECONDS = 6 * 3600
_RENDITION = re.compile(r"[a-z0-9]{1,16}")
_URI_LINE = re.compile(r"^(?!#)(\S+)$", re.MULTILINE)
_MAP_URI = re.compile(r'(#EXT-X-MAP:URI=")([^"]+)(")')


class PlaybackDenied(ReelstackError):
    """The playback token is missing, forged or expired."""

    code = "PlaybackDenied"
    http_status = 403


def _secret() -> str:
    secret = deployment().playback_secret
    if not secret:
        raise PlaybackDenied("this deployment has no PlaybackSecret", code="PlaybackNotConfigured")
    return secret


def url_for(asset_id: str, playback_base: str, now: float | None = None) -> dict[str, str]:
    """``{hls, expiresAt}``: the master playlist's URL with a token that lets it be played until then."""
    expires = int(now or time.time()) + PLAYBACK_SECONDS
    token = jwt.encode({"asset": asset_id, "exp": expires}, _secret(), algorithm="HS256")
    return {"hls": f"{playback_base}/{token}/master.m3u8", "expiresAt": iso(datetime.fromtimestamp(expires, UTC))}


def start(owner_id: str, asset_id: str, playback_base: str) -> dict[str, str]:
    """A playback URL for the caller's asset, once it is playable (before it is ready: the playlists grow)."""
    asset = owned_asset(owner_id, asset_id)
    if not is_playable(asset):
        raise NotFound(f"asset {asset_id} is {asset.status}, not ready to play", code="NotReady")
    return url_for(asset_id, playback_base)


def _verified(token: str) -> tuple[AssetModel, int]:
    try:
        claims = jwt.decode(token, _secret(), algorithms=["HS256"], options={"require": ["exp", "asset"]})
    except jwt.ExpiredSignatureError as error:
        raise PlaybackDenied("this playback URL has expired; ask for a new one") from error
    except jwt.InvalidTokenError as error:
        raise PlaybackDenied("this playback URL is not valid") from error
    asset_id = str(claims["asset"])
    if not is_id(asset_id):
        raise PlaybackDenied("this playback URL is not valid")
    asset = AssetModel.get(asset_id, consistent_read=True)
    if not is_playable(asset):
        raise PlaybackDenied("this asset is no longer playable")
    return asset, int(claims["exp"])


def _read(key: str) -> str:
    try:
        text = get_text(key)
    except ClientError as error:
        raise StorageUnavailable("the playlist could not be read") from error
    if text is None:
        raise NotFound("no such playlist", code="PlaylistNotFound")
    return text


def current_playlist(asset: AssetModel, keys: MediaKeys, rendition: str) -> str:
    """The rendition's playlist as players get it now: while chunks are still being encoded, the one of
    as many chunks as the asset has published (reelstack.pipeline.progressive), else the joined one."""
    if asset.status != AssetStatus.READY and asset.published_chunks:
        try:
            return _read(keys.partial_playlist(rendition, int(asset.published_chunks)))
        except NotFound:
            pass  # joined meanwhile (the join removes the partial playlists after writing its own)
    return _read(keys.media_playlist(rendition))


def master_playlist(token: str) -> str:
    asset, _ = _verified(token)
    return _read(MediaKeys(asset.asset_id).master_playlist)


def media_playlist(token: str, rendition: str) -> str:
    """The rendition's playlist with its init segment and media segments presigned until the token dies."""
    if not _RENDITION.fullmatch(rendition):
        raise NotFound("no such rendition", code="PlaylistNotFound")
    asset, expires = _verified(token)
    keys = MediaKeys(asset.asset_id)
    prefix = keys.rendition_prefix(rendition)
    text = current_playlist(asset, keys, rendition)
    seconds = max(60, expires - int(time.time()))
    presigner = aws.presigning_s3()

    def sign(relative: str) -> str:
        if "/" in relative or relative.startswith("."):
            raise StorageUnavailable("unexpected URI in a stored playlist")
        return presigner.generate_presigned_url(
            "get_object", Params={"Bucket": deployment().media_bucket, "Key": prefix + relative}, ExpiresIn=seconds
        )

    text = _MAP_URI.sub(lambda match: match.group(1) + sign(match.group(2)) + match.group(3), text)
    return _URI_LINE.sub(lambda match: sign(match.group(1)), text)
