"""Storage keys: the one place that decides where objects live in the buckets.

Keys are built from the owner and server-made ids only; a client's filename never reaches a key.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass

from reelstack.errors import InvalidInput

SOURCE_PREFIX = "sources"
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_ID = re.compile(r"[a-z0-9]{26}")


def owner_segment(owner_id: str) -> str:
    """The owner as one key segment: as is when plain, else URL-safe base32 (reversible, no '/')."""
    if _SAFE_SEGMENT.fullmatch(owner_id) and not owner_id.startswith(("~", ".")):
        return owner_id
    return "~" + base64.b32encode(owner_id.encode()).decode().rstrip("=").lower()


def owner_from_segment(segment: str) -> str:
    if not segment.startswith("~"):
        return segment
    encoded = segment[1:].upper()
    return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()


def source_prefix(owner_id: str, asset_id: str) -> str:
    """``sources/<owner>/<assetId>/``: every upload (and version) of the asset's source."""
    return f"{SOURCE_PREFIX}/{owner_segment(owner_id)}/{asset_id}/"


@dataclass(frozen=True)
class SourceKey:
    """``sources/<owner>/<assetId>/<uploadId>``: the original upload in the upload bucket."""

    owner_id: str
    asset_id: str
    upload_id: str

    def __str__(self) -> str:
        return f"{source_prefix(self.owner_id, self.asset_id)}{self.upload_id}"

    @classmethod
    def parse(cls, key: str) -> SourceKey:
        return cls(*_owned_key_parts(key, SOURCE_PREFIX, is_id, "an upload key"))


def _owned_key_parts(key: str, prefix: str, last_fits: Callable[[str], bool], what: str) -> tuple[str, str, str]:
    """``<prefix>/<owner segment>/<assetId>/<last>`` -> (owner, assetId, last); InvalidInput naming ``what``."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != prefix or not is_id(parts[2]) or not last_fits(parts[3]):
        raise InvalidInput(f"not {what}: {key[:200]!r}")
    try:
        return owner_from_segment(parts[1]), parts[2], parts[3]
    except ValueError as error:
        raise InvalidInput(f"not {what}: {key[:200]!r}") from error


CAPTIONS_PREFIX = "captions"
_TRACK_ID = re.compile(r"t[a-z0-9]{12}")


def is_track_id(value: str) -> bool:
    """Whether ``value`` has the shape of a text track's id (reelstack.ids.new_track_id)."""
    return bool(_TRACK_ID.fullmatch(value))


@dataclass(frozen=True)
class CaptionUploadKey:
    """``captions/<owner>/<assetId>/<trackId>``: a caption file sent with a presigned PUT, in the upload
    bucket until its arrival is checked (then removed)."""

    owner_id: str
    asset_id: str
    track_id: str

    def __str__(self) -> str:
        return f"{CAPTIONS_PREFIX}/{owner_segment(self.owner_id)}/{self.asset_id}/{self.track_id}"

    @classmethod
    def parse(cls, key: str) -> CaptionUploadKey:
        return cls(*_owned_key_parts(key, CAPTIONS_PREFIX, is_track_id, "a caption upload's key"))


def is_id(value: str) -> bool:
    """Whether ``value`` has the shape of the ids this package makes (see :func:`reelstack.ids.new_id`)."""
    return bool(_ID.fullmatch(value))


MEDIA_PREFIX = "assets"


@dataclass(frozen=True)
class MediaKeys:
    """Everything the pipeline writes for an asset lives under ``assets/<assetId>/`` in the media bucket."""

    asset_id: str

    @property
    def prefix(self) -> str:
        return f"{MEDIA_PREFIX}/{self.asset_id}/"

    @property
    def hls_prefix(self) -> str:
        return f"{self.prefix}hls/"

    @property
    def master_playlist(self) -> str:
        return f"{self.hls_prefix}master.m3u8"

    def rendition_prefix(self, rendition: str) -> str:
        """A rendition's folder: its media playlist, init segment and segments."""
        return f"{self.hls_prefix}{rendition}/"

    def media_playlist(self, rendition: str) -> str:
        return f"{self.rendition_prefix(rendition)}index.m3u8"

    @property
    def work_prefix(self) -> str:
        """What steps hand each other through S3 rather than the state (chunk reports); removed by the join."""
        return f"{self.prefix}work/"

    def chunk_report(self, index: int) -> str:
        return f"{self.work_prefix}chunk-{index:05d}.json"

    def partial_playlist(self, rendition: str, chunks: int) -> str:
        """A rendition's playlist of the first ``chunks`` chunks, written once and never again; the
        playback route serves the one the asset's ``publishedChunks`` names until the join's."""
        return f"{self.work_prefix}playlists/{rendition}-{chunks:05d}.m3u8"

    @property
    def thumbnails_prefix(self) -> str:
        return f"{self.prefix}thumbnails/"

    @property
    def poster(self) -> str:
        return f"{self.thumbnails_prefix}poster.jpg"

    @property
    def storyboard_image(self) -> str:
        return f"{self.thumbnails_prefix}storyboard.jpg"

    @property
    def storyboard_vtt(self) -> str:
        return f"{self.thumbnails_prefix}storyboard.vtt"

    @property
    def previews_prefix(self) -> str:
        return f"{self.prefix}previews/"

    @property
    def preview_video(self) -> str:
        return f"{self.previews_prefix}preview.mp4"

    @property
    def preview_animated(self) -> str:
        return f"{self.previews_prefix}preview.webp"

    @property
    def downloads_prefix(self) -> str:
        return f"{self.prefix}downloads/"

    def download(self, file_name: str) -> str:
        """A download (reelstack.derivatives.downloads), e.g. ``highest.mp4``."""
        return f"{self.downloads_prefix}{file_name}"

    def text_track(self, track_id: str) -> str:
        """A text track's clean WebVTT (reelstack.derivatives.captions); players get it in segments."""
        return f"{self.prefix}tracks/{track_id}.vtt"

    def speech_audio(self, track_id: str) -> str:
        """The sound as 16 kHz PCM, handed from the Derive function to the Transcribe function and
        removed once read (reelstack.derivatives.speech)."""
        return f"{self.prefix}speech/{track_id}.pcm"

    def picture(self, file_name: str) -> str:
        """A picture rendered on demand, named by its normalised parameters (reelstack.derivatives.pictures)."""
        return f"{self.prefix}pictures/{file_name}"
