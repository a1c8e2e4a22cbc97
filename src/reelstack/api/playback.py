"""Playback by stock players (hls.js, AVPlayer, ExoPlayer), which cannot send a bearer token: the
playback URL carries its own signed token, and the API serves the asset's playlists.

``GET /assets/{id}/playback`` (authenticated) -> ``{hls: <api>/playback/<token>/master.m3u8, expiresAt}``
``GET /playback/<token>/master.m3u8``            -> the master, variant URIs left relative
``GET /playback/<token>/<rendition>/index.m3u8``   -> the media playlist
``GET /playback/<token>/<rendition>/<segment>``    -> 302 to the segment, presigned for a moment

Caption and subtitle tracks (reelstack.derivatives.captions) are WebVTT renditions that the master
names once the asset is ready (``EXT-X-MEDIA TYPE=SUBTITLES``, the ready text tracks as they are when
the master is loaded, so a track added later is in the next player's master). Their playlists and
segments are made here from the track's clean WebVTT (``<trackId>/index.m3u8``, ``segment_<n>.vtt``
with ``X-TIMESTAMP-MAP`` on the segments' timeline), for both kinds of token.

Two kinds of token:

- *Personal* (the owner's asset, private or still processing): valid for PLAYBACK_SECONDS from when it
  was asked for. Its media playlists name every segment by a presigned S3 URL that dies with it.
- *Shared* (a public, ready asset): the same for every viewer who asks within the same fixed window of
  SHARED_WINDOW_SECONDS (it expires PLAYBACK_SECONDS after that window ends, so a long video or a
  paused one plays to the end), and so are the playlists it serves: they are the stored ones,
  unchanged, whose segment URIs resolve to the segment route. A CDN in front of the API caches all
  of it for CDN_SECONDS (docs/playback.md: CloudFront).

Every token names the asset's playback version. Going private raises it (reelstack.sharing), so every
URL handed out before is refused from then on, playlists and segment redirects alike; what a CDN
cached lives CDN_SECONDS more, and a personal playlist's presigned segment URLs live until they expire.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import jwt
from botocore.exceptions import ClientError

from reelstack import aws, sharing
from reelstack.config import deployment
from reelstack.errors import NotFound, PlaybackDenied, StorageUnavailable
from reelstack.media import captions, hls
from reelstack.store.keys import MediaKeys, is_id, is_track_id
from reelstack.store.objects import get_text
from reelstack.store.records import AssetModel, iso
from reelstack.store.states import AssetStatus
from reelstack.store.views import is_playable, plain, signed_get_url, text_tracks

PLAYBACK_SECONDS = 6 * 3600
SHARED_WINDOW_SECONDS = 3600
CDN_SECONDS = 60  # how long a CDN may keep a shared playlist or segment redirect
SEGMENT_URL_SECONDS = 2 * CDN_SECONDS  # a cached redirect still points at a live URL
SHARED_CACHE_CONTROL = f"public, max-age={CDN_SECONDS}"  # what anyone may fetch: shared playback, pictures
_RENDITION = re.compile(r"[a-z0-9]{1,16}")
_SEGMENT = re.compile(r"[A-Za-z0-9_]{1,40}\.(?:m4s|mp4|vtt)")
HLS_TYPE = "application/vnd.apple.mpegurl"
WEBVTT_TYPE = "text/vtt; charset=utf-8"
_URI_LINE = re.compile(r"^(?!#)(\S+)$", re.MULTILINE)
_MAP_URI = re.compile(r'(#EXT-X-MAP:URI=")([^"]+)(")')


@dataclass(frozen=True)
class Served:
    """A playback answer: the body (a playlist) or where the segment is, and who may cache it how long."""

    body: str
    cache_control: str
    location: str | None = None
    content_type: str = HLS_TYPE


def _secret() -> str:
    secret = deployment().playback_secret
    if not secret:
        raise PlaybackDenied("this deployment has no PlaybackSecret", code="PlaybackNotConfigured")
    return secret


def url_for(asset: AssetModel, playback_base: str, now: float | None = None) -> dict[str, str]:
    """``{hls, expiresAt}``: the master playlist's URL with a token that lets it be played until then;
    for a shared asset, the same URL for everyone within the window."""
    moment = int(now or time.time())
    claims: dict[str, object] = {"asset": asset.asset_id, "v": int(asset.playback_version or 0)}
    if sharing.is_shared(asset):
        expires = (moment // SHARED_WINDOW_SECONDS + 1) * SHARED_WINDOW_SECONDS + PLAYBACK_SECONDS
        claims["shared"] = True
    else:
        expires = moment + PLAYBACK_SECONDS
    token = jwt.encode({**claims, "exp": expires}, _secret(), algorithm="HS256")
    return {"hls": f"{playback_base}/{token}/master.m3u8", "expiresAt": iso(datetime.fromtimestamp(expires, UTC))}


def start(caller: str, asset_id: str, playback_base: str) -> dict[str, str]:
    """A playback URL for the caller's asset once it is playable (before it is ready: the playlists
    grow), or for anyone's shared asset."""
    asset = sharing.visible_asset(caller, asset_id)
    if not is_playable(asset):
        raise NotFound(f"asset {asset_id} is {asset.status}, not ready to play", code="NotReady")
    return url_for(asset, playback_base)


@dataclass(frozen=True)
class _Grant:
    asset: AssetModel
    expires: int
    shared: bool

    @property
    def cache_control(self) -> str:
        return SHARED_CACHE_CONTROL if self.shared else "private, no-store"


def _verified(token: str) -> _Grant:
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
    if claims.get("v", 0) != int(asset.playback_version or 0):
        raise PlaybackDenied("this playback URL was revoked: the video is no longer shared", code="PlaybackRevoked")
    return _Grant(asset, int(claims["exp"]), bool(claims.get("shared")))


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
    as many chunks as the asset has published (reelstack.pipeline.progressive), else the joined one;
    open (hls.held_open) until the asset is ready, so that no rendition ends before the others."""
    if asset.status == AssetStatus.READY:
        return _read(keys.media_playlist(rendition))
    if asset.published_chunks:
        try:
            return hls.held_open(_read(keys.partial_playlist(rendition, int(asset.published_chunks))))
        except NotFound:
            pass  # joined meanwhile (the join removes the partial playlists after writing its own)
    return hls.held_open(_read(keys.media_playlist(rendition)))


def master_playlist(token: str) -> Served:
    """The stored master, with the asset's ready text tracks as subtitle renditions once it is ready."""
    grant = _verified(token)
    master = _read(MediaKeys(grant.asset.asset_id).master_playlist)
    return Served(hls.with_subtitles(master, _subtitles(grant.asset)), grant.cache_control)


def _text_track(asset: AssetModel, name: str) -> dict | None:
    """The ready text track ``name`` of a ready asset, or None (then ``name`` is an HLS rendition)."""
    if not is_track_id(name) or asset.status != AssetStatus.READY:
        return None
    entry = text_tracks(asset).get(name)
    return entry if entry and entry.get("status") == "ready" else None


def _subtitles(asset: AssetModel) -> list[hls.SubtitleRendition]:
    if asset.status != AssetStatus.READY:  # the timeline the captions go on is read when it is published
        return []
    return [
        hls.SubtitleRendition(track_id, entry.get("languageCode") or "und", entry.get("name") or "",
                              entry.get("kind") == "captions")
        for track_id, entry in text_tracks(asset).items() if entry.get("status") == "ready"
    ]  # fmt: skip


def _subtitle_segment(asset: AssetModel, track_id: str, name: str) -> str:
    """Segment ``name`` of a text track: its cues then, on the segments' timeline."""
    index = captions.segment_index(name)
    duration = float(plain(asset.media).get("durationSeconds") or 0)
    if index is None or index >= captions.segment_count(duration):
        raise NotFound("no such segment", code="SegmentNotFound")
    cues = captions.stored_cues(_read(MediaKeys(asset.asset_id).text_track(track_id)))
    cut = [replace(cue, end=min(cue.end, duration)) for cue in cues if cue.start < duration]  # added before probed
    return captions.segment(cut, index, float(plain(asset.hls).get("timelineSeconds") or 0))


def media_playlist(token: str, rendition: str) -> Served:
    """The rendition's playlist. Shared: as stored (its segment URIs resolve to the segment route).
    Personal: with its init segment and media segments presigned until the token dies."""
    if not _RENDITION.fullmatch(rendition):
        raise NotFound("no such rendition", code="PlaylistNotFound")
    grant = _verified(token)
    if _text_track(grant.asset, rendition) is not None:  # its segment URIs resolve to the segment route
        duration = float(plain(grant.asset.media).get("durationSeconds") or 0)
        return Served(captions.subtitle_playlist(duration), grant.cache_control)
    keys = MediaKeys(grant.asset.asset_id)
    text = current_playlist(grant.asset, keys, rendition)
    if grant.shared:
        return Served(text, grant.cache_control)
    prefix = keys.rendition_prefix(rendition)
    seconds = max(60, grant.expires - int(time.time()))
    presigner = aws.presigning_s3()

    def sign(relative: str) -> str:
        if "/" in relative or relative.startswith("."):
            raise StorageUnavailable("unexpected URI in a stored playlist")
        return presigner.generate_presigned_url(
            "get_object", Params={"Bucket": deployment().media_bucket, "Key": prefix + relative}, ExpiresIn=seconds
        )

    text = _MAP_URI.sub(lambda match: match.group(1) + sign(match.group(2)) + match.group(3), text)
    return Served(_URI_LINE.sub(lambda match: sign(match.group(1)), text), grant.cache_control)


def segment(token: str, rendition: str, name: str) -> Served:
    """Where one segment (or init segment) is: a presigned URL that lives SEGMENT_URL_SECONDS, handed
    out only while the token is good, so a revoked URL stops at the next segment."""
    if not (_RENDITION.fullmatch(rendition) and _SEGMENT.fullmatch(name)):
        raise NotFound("no such segment", code="SegmentNotFound")
    grant = _verified(token)
    if name.endswith(".vtt"):
        if _text_track(grant.asset, rendition) is None:
            raise NotFound("no such segment", code="SegmentNotFound")
        return Served(_subtitle_segment(grant.asset, rendition, name), grant.cache_control, content_type=WEBVTT_TYPE)
    key = MediaKeys(grant.asset.asset_id).rendition_prefix(rendition) + name
    return Served("", grant.cache_control, location=signed_get_url(deployment().media_bucket, key, SEGMENT_URL_SECONDS))
