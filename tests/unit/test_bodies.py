"""The request bodies' JSON schemas (the OpenAPI's) say what the API takes: for each sample body, the
schema and the parser give the same verdict (the disagreements schemathesis found stay fixed)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel

from reelstack.bodies import AssetChanges, CompleteUpload, CreateUpload, RegisterDevice, RequestParts, parse_body
from reelstack.errors import InvalidInput
from reelstack.paging import page_size

CHECKSUM = base64.b64encode(hashlib.sha256(b"part").digest()).decode()
UPLOAD = {"filename": "a.mp4", "size": 10, "contentType": "video/mp4"}
SAMPLES: list[tuple[type[BaseModel], Any, bool]] = [
    (AssetChanges, {"title": "Beach"}, True),
    (AssetChanges, {}, False),  # nothing to change
    (AssetChanges, {"tags": None}, False),  # a field is left out, never null
    (AssetChanges, {"title": "x", "visibility": None}, False),
    (AssetChanges, {"visibility": "friends"}, False),
    (CreateUpload, UPLOAD, True),
    (CreateUpload, {**UPLOAD, "size": 10.0}, True),  # JSON's integer 10, however written
    (CreateUpload, {**UPLOAD, "size": 10.5}, False),
    (CreateUpload, {**UPLOAD, "size": "10"}, False),
    (CreateUpload, {**UPLOAD, "title": None}, True),
    (RequestParts, {"partNumbers": [1, 2.0]}, True),
    (RequestParts, {"partNumbers": [0]}, False),
    (RequestParts, {"partNumbers": [True]}, False),
    (RequestParts, {}, False),  # either partNumbers or parts
    (RequestParts, {"partNumbers": [1], "parts": [{"partNumber": 1, "checksumSHA256": CHECKSUM}]}, False),
    (RequestParts, {"partNumbers": None, "parts": [{"partNumber": 1, "checksumSHA256": CHECKSUM}]}, False),
    (RequestParts, {"parts": [{"partNumber": 1, "checksumSHA256": CHECKSUM}]}, True),
    (RequestParts, {"parts": [{"partNumber": 1, "checksumSHA256": CHECKSUM[:-1]}]}, False),
    (RequestParts, {"parts": [{"partNumber": 1, "checksumSHA256": base64.b64encode(b"x" * 31).decode()}]}, False),
    (CompleteUpload, {"parts": [{"partNumber": 7148.0, "etag": '"e"'}]}, True),
    (RegisterDevice, {"platform": "apns", "token": "ab" * 32}, True),
    (RegisterDevice, {"platform": "apns", "token": "zz" * 32}, False),
    (RegisterDevice, {"platform": "fcm", "token": "short"}, False),
    (RegisterDevice, {"platform": "fcm", "token": "a:APA91b" + "x" * 40}, True),
    (RegisterDevice, {"platform": "fcm", "token": "ab" * 32 + "!"}, False),
]


def _accepted(model: type[BaseModel], document: Any) -> bool:
    try:
        parse_body(model, json.dumps(document))
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize(("model", "document", "valid"), SAMPLES)
def test_the_schema_and_the_parser_agree(model: type[BaseModel], document: Any, valid: bool) -> None:
    schema = model.model_json_schema(by_alias=True)
    assert jsonschema_rs.validator_for(schema).is_valid(document) is valid
    assert _accepted(model, document) is valid


@pytest.mark.parametrize("limit", [" 7", "+7", "7_0", "\u0667", "7.0", "", "0", "101"])
def test_limit_is_digits_from_1_to_100(limit: str) -> None:
    with pytest.raises(InvalidInput):
        page_size(limit)
    assert page_size("7") == 7
