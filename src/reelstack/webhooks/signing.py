"""Standard Webhooks signatures (standardwebhooks.com): what the deliveries send and what
``reelstack webhooks listen`` checks.

A secret is ``whsec_`` + base64 of random bytes; the HMAC key is those bytes. A delivery carries
``webhook-id`` (the event's id, the same on every attempt), ``webhook-timestamp`` (Unix seconds of
the attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``,
one per live secret, space-separated (an endpoint whose secret is being rotated is signed with both).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

from reelstack.errors import InvalidInput

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
SECRET_BYTES = 32
TOLERANCE_SECONDS = 300  # how far a timestamp may be from now (the specification's 5 minutes)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``<id>.<timestamp>.<body>``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def headers(secrets_now: Iterable[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt, signed with every secret given."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_now),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    """Check a delivery as a receiver must (the raw body, before any JSON parsing); InvalidInput
    (code ``BadSignature``) if it does not verify or its timestamp is not within 5 minutes."""
    lowered = {name.lower(): value for name, value in received.items()}
    message_id, stamp = lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit():
        raise InvalidInput("missing webhook-id or webhook-timestamp", code="BadSignature")
    if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_SECONDS:
        raise InvalidInput("webhook-timestamp is too far from now", code="BadSignature")
    expected = signature(secret, message_id, int(stamp), body)
    offered = lowered.get("webhook-signature", "").split()
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise InvalidInput("no signature verifies with this secret", code="BadSignature")
