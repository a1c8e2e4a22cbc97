"""The upload rules, pure (no AWS): what a client may declare, how a file is cut into parts, and
whether the parts S3 holds are the file the client declared."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from reelstack.config import Limits
from reelstack.errors import InvalidInput, UnsupportedMedia, UploadTooLarge

_FILENAME_MAX = 255
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")  # controls, bidi overrides, lone surrogates, unassigned

# The content decides what the file is (the probe reads it whatever it is called or claims to be);
# the declared type only turns away what is plainly not audio or video, before a byte is uploaded.
# Any video or audio type (video/mp2t, video/x-msvideo, audio/flac, ... and those not yet named), and
# what browsers and apps send when they do not know (a MediaRecorder blob, a file with no extension).
ACCEPTED_FAMILIES = ("video/", "audio/")
UNKNOWN_TYPE = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")

# What S3 holds for a part: number -> {"size", "etag", "checksum"}.
HeldParts = dict[int, dict[str, Any]]


def normalise_content_type(declared: str) -> str:
    """``Video/MP4; codecs=...`` -> ``video/mp4``; anything not audio, video or unknown is refused."""
    content_type = declared.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(content_type) or not (
        content_type.startswith(ACCEPTED_FAMILIES) or content_type == UNKNOWN_TYPE
    ):
        raise UnsupportedMedia(
            f"contentType {declared[:100]!r} is not a video or audio type; declare video/*, audio/* "
            f"or {UNKNOWN_TYPE} (the pipeline reads the file itself to tell what it is)",
            code="UnsupportedMediaType",
        )
    return content_type


def safe_filename(raw: str) -> str:
    """The client's filename made safe to store and show: the last path segment, printable, bounded.

    It is display metadata only; keys never contain it. Non-UTF-8 names arrive as lone surrogates
    (JSON ``\\udcxx``) and become U+FFFD.
    """
    name = unicodedata.normalize("NFC", re.sub("[\ud800-\udfff]", "\ufffd", raw))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in _UNSAFE_CATEGORIES).strip()
    name = name.lstrip(".").strip() or "untitled"
    if len(name) > _FILENAME_MAX:
        _stem, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 10 else ""
        name = name[: _FILENAME_MAX - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return name


def plan_parts(size: int, limits: Limits) -> tuple[int, int]:
    """``(part_size, part_count)`` for ``size`` bytes: the preferred size, larger only past max_parts."""
    part_size = max(limits.preferred_part_bytes, math.ceil(size / limits.max_parts / 2**20) * 2**20)
    return part_size, max(1, math.ceil(size / part_size))


def chosen_parts(size: int, part_size: int, limits: Limits) -> tuple[int, int]:
    """``(part_size, part_count)`` for a part size the client chose (Uppy's ``getChunkSize`` runs before
    the upload is created): any within S3's bounds, as long as 10,000 parts hold the file."""
    part_count = max(1, math.ceil(size / part_size))
    if part_count > limits.max_parts:
        smallest = math.ceil(size / limits.max_parts)
        raise InvalidInput(
            f"partSize {part_size} needs {part_count} parts; S3 takes {limits.max_parts}: at least {smallest}",
            code="InvalidPartSize",
        )
    return part_size, part_count


def plan_from_held(claimed: dict[int, str], held: HeldParts, max_size: int) -> tuple[int, int, int]:
    """``(size, part_size, part_count)`` of an upload whose client never declared its size (Uppy's
    Companion client): what S3 holds of the claimed parts decides, within ``max_size``. check_parts
    then holds the parts to it as to a declared plan."""
    part_count = max(claimed)
    size = sum(held[number]["size"] for number in range(1, part_count + 1) if number in held)
    if size > max_size:
        raise UploadTooLarge(f"the parts add up to {size} bytes, over this deployment's limit of {max_size}")
    return size, held[1]["size"] if 1 in held else 0, part_count


def part_length(part_number: int, size: int, part_size: int) -> int:
    return min(part_size, size - (part_number - 1) * part_size)


def normalise_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


def check_part_numbers(part_count: int, numbers: Iterable[int]) -> None:
    beyond = sorted(number for number in numbers if number > part_count)
    if beyond:
        raise InvalidInput(
            f"this upload has {part_count} parts; there is no part {beyond[0]}", code="InvalidPartNumber"
        )


def claimed_parts(part_count: int, parts: Iterable[tuple[int, str]]) -> dict[int, str]:
    """The complete's list ``(partNumber, etag)`` as number -> normalised ETag, each part once."""
    claimed: dict[int, str] = {}
    for number, etag in parts:
        if number in claimed:
            raise InvalidInput(f"part {number} is listed twice", code="DuplicatePart")
        claimed[number] = normalise_etag(etag)
    check_part_numbers(part_count, claimed)
    return claimed


def check_parts(
    claimed: dict[int, str], held: HeldParts, *, size: int, part_size: int, part_count: int, limits: Limits
) -> None:
    """That the client's list and what S3 holds are the declared file, part for part; else InvalidInput
    that says which parts to upload again."""
    not_listed = [number for number in range(1, part_count + 1) if number not in claimed]
    if not_listed:
        raise InvalidInput(f"the list lacks parts {_numbers(not_listed)} of {part_count}", code="MissingParts")
    not_held = [number for number in range(1, part_count + 1) if number not in held]
    if not_held:
        raise InvalidInput(f"S3 does not hold parts {_numbers(not_held)} yet; upload them", code="MissingParts")
    wrong = [number for number in sorted(claimed) if claimed[number] != held[number]["etag"]]
    if wrong:
        raise InvalidInput(
            f"the ETags of parts {_numbers(wrong)} differ from what S3 holds; upload them again or send S3's ETags",
            code="PartMismatch",
        )
    for number in range(1, part_count):
        if held[number]["size"] < limits.min_part_bytes:
            raise InvalidInput(
                f"part {number} is {held[number]['size']} bytes; every part but the last needs at least "
                f"{limits.min_part_bytes}",
                code="PartTooSmall",
            )
        if held[number]["size"] != part_size:
            raise InvalidInput(
                f"part {number} is {held[number]['size']} bytes; this upload's parts are {part_size}",
                code="PartSizeMismatch",
            )
    total = sum(held[number]["size"] for number in range(1, part_count + 1))
    if total != size:
        raise InvalidInput(f"the parts add up to {total} bytes, not the declared {size}", code="SizeMismatch")


def _numbers(numbers: list[int], shown: int = 10) -> str:
    text = ", ".join(str(number) for number in numbers[:shown])
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")
