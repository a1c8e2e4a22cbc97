"""Pages of a DynamoDB query as the API hands them out: ``?limit=`` checked, and the cursor (the
query's LastEvaluatedKey, URL-safe base64 JSON) checked when it comes back."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from reelstack.bodies import read_json
from reelstack.errors import InvalidInput

DEFAULT_PAGE = 20
MAX_PAGE = 100


def page_size(limit: str | None) -> int:
    # Digits only, as the OpenAPI's integer says (int() would also take " 7", "+7", "7_0" and other scripts' digits).
    if limit is not None and not (limit.isascii() and limit.isdigit()):
        raise InvalidInput(f"limit must be a number from 1 to {MAX_PAGE}", code="InvalidLimit")
    size = int(limit) if limit is not None else DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise InvalidInput(f"limit must be a number from 1 to {MAX_PAGE}", code="InvalidLimit")
    return size


def encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, belongs: Callable[[Any], bool]) -> dict[str, Any]:
    """The key in ``cursor``; InvalidCursor unless it decodes and ``belongs`` to this listing."""
    try:
        key = read_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), "the cursor")
    except (InvalidInput, ValueError) as error:  # binascii.Error is a ValueError; so is non-ASCII
        raise InvalidInput("the cursor is not one this API gave out", code="InvalidCursor") from error
    if not belongs(key):
        raise InvalidInput("the cursor is not one this API gave out to you", code="InvalidCursor")
    return key
