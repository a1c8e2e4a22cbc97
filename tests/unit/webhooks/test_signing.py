"""Standard Webhooks signatures, checked against the specification's reference library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reelstack.errors import InvalidInput
from reelstack.webhooks import signing


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    made = {signing.new_secret() for _ in range(20)}
    assert len(made) == 20
    for secret in made:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32


def test_the_reference_library_verifies_what_we_sign_and_we_verify_what_it_signs() -> None:
    secret, body, now = signing.new_secret(), b'{"type":"asset.ready","eventId":"01k"}', 1_795_330_800
    headers = signing.headers([secret], "01kmessage", now, body)
    assert headers["webhook-id"] == "01kmessage" and headers["webhook-timestamp"] == str(now)
    reference = Webhook(secret)
    assert reference.sign("01kmessage", datetime.fromtimestamp(now, UTC), body.decode()) == headers["webhook-signature"]
    signing.verify(secret, headers, body, now=now + 10)
    with pytest.raises(WebhookVerificationError):  # too old for the library's 5 minutes, as for ours
        reference.verify(body, headers)
    with pytest.raises(InvalidInput):
        signing.verify(secret, headers, body, now=now + 301)


def test_while_rotating_each_secret_verifies_alone() -> None:
    old, new, body = signing.new_secret(), signing.new_secret(), b"{}"
    headers = signing.headers([new, old], "01kmessage", 1_795_330_800, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        signing.verify(secret, headers, body, now=1_795_330_800)
    with pytest.raises(InvalidInput) as refused:
        signing.verify(signing.new_secret(), headers, body, now=1_795_330_800)
    assert refused.value.code == "BadSignature"


def test_a_parsed_and_reserialised_body_does_not_verify() -> None:
    secret, raw = signing.new_secret(), b'{"type": "asset.ready",  "eventId": "01k"}'
    headers = signing.headers([secret], "01kmessage", 1_795_330_800, raw)
    with pytest.raises(InvalidInput):
        signing.verify(secret, headers, b'{"type":"asset.ready","eventId":"01k"}', now=1_795_330_800)
