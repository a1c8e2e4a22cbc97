"""The media types an upload may declare. The pipeline checks the content itself later (probe)."""

from __future__ import annotations

from reelstack.errors import UnsupportedMediaType

VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",  # iPhone .mov
        "video/x-m4v",
        "video/3gpp",  # older Android
        "video/webm",
        "video/x-matroska",
    }
)
AUDIO_TYPES = frozenset({"audio/mp4", "audio/x-m4a", "audio/mpeg", "audio/aac", "audio/wav", "audio/x-wav"})
ALLOWED_TYPES = VIDEO_TYPES | AUDIO_TYPES


def normalise_content_type(declared: str) -> str:
    """``Video/MP4; codecs=...`` -> ``video/mp4``; anything not in :data:`ALLOWED_TYPES` is refused."""
    content_type = declared.split(";", 1)[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise UnsupportedMediaType(
            f"contentType {declared[:100]!r} is not supported; use one of: {', '.join(sorted(ALLOWED_TYPES))}"
        )
    return content_type
