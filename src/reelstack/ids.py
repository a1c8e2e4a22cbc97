"""Ids: 26 lowercase characters. Uploads and assets get time-ordered, unguessable ones; devices one
derived from their push token, so that registering a phone twice finds the same device."""

from __future__ import annotations

import hashlib
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase


def new_id() -> str:
    """A ULID-shaped id: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""
    return _base32((int(time.time() * 1000) << 80) | secrets.randbits(80))


def new_track_id() -> str:
    """A text track's id: ``t`` and 12 random characters (60 bits), short enough to name its HLS
    rendition in a playback URL, never reused within an asset."""
    return "t" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def derived_id(*parts: str) -> str:
    """The same 26 characters for the same parts (130 bits of their SHA-256); reveals none of them."""
    return _base32(int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:17]) >> 6)


def _base32(value: int) -> str:
    """128 or 130 bits as 26 characters."""
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))
