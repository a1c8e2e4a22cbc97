"""The media types an upload may declare. The content decides what the file is (the probe reads it
whatever it is called or claims to be); the declared type only turns away what is plainly not audio
or video, before a byte is uploaded."""

from __future__ import annotations

import re

from reelstack.errors import UnsupportedMediaType

# Any video or audio type (video/mp2t, video/x-msvideo, audio/flac, ... and those not yet named), and
# what browsers and apps send when they do not know (a MediaRecorder blob, a file with no extension).
ACCEPTED_FAMILIES = ("video/", "audio/")
UNKNOWN_TYPE = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def normalise_content_type(declared: str) -> str:
    """``Video/MP4; codecs=...`` -> ``video/mp4``; anything not audio, video or unknown is refused."""
    content_type = declared.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(content_type) or not (
        content_type.startswith(ACCEPTED_FAMILIES) or content_type == UNKNOWN_TYPE
    ):
        raise UnsupportedMediaType(
            f"contentType {declared[:100]!r} is not a video or audio type; declare video/*, audio/* "
            f"or {UNKNOWN_TYPE} (the pipeline reads the file itself to tell what it is)"
        )
    return content_type
