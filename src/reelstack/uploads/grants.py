"""Upload grants: what stock Uppy (6's Companion client) carries instead of the user's token.

Uppy's Companion client sends no header of ours and no file size, only requests to the endpoint it
was given. So the app asks ``POST /upload-grants`` with its token and hands Uppy
``companionEndpoint: <api>/companion/<grant>``: the grant, in the path, names the owner and expires;
the user's token never appears in a URL (nor in a log that records one). A grant starts uploads for
``Limits.grant_seconds`` and keeps the uploads it started going for ``grant_continue_seconds`` (Uppy
cannot change its endpoint in the middle of a file). It is an HS256 token signed with the
deployment's PlaybackSecret under an audience of its own, so that neither a playback token nor a
grant passes for the other.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jwt

from reelstack.config import deployment
from reelstack.errors import ServiceUnavailable, Unauthorized

AUDIENCE = "reelstack-upload-grant"
COMPANION_PREFIX = "/companion"


def _secret() -> str:
    secret = deployment().playback_secret
    if not secret:
        raise ServiceUnavailable(
            "this deployment has no PlaybackSecret to sign grants with", code="GrantsNotConfigured"
        )
    return secret


def issue(owner_id: str, api_base: str, now: float | None = None) -> dict[str, Any]:
    """``{grant, companionEndpoint, expiresAt}`` for ``owner_id``."""
    moment = int(now or time.time())
    expires = moment + deployment().limits.grant_seconds
    grant = jwt.encode({"sub": owner_id, "aud": AUDIENCE, "iat": moment, "exp": expires}, _secret(), algorithm="HS256")
    return {
        "grant": grant,
        "companionEndpoint": f"{api_base}{COMPANION_PREFIX}/{grant}",
        "expiresAt": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
    }


def owner_of(grant: str, *, starting: bool, now: float | None = None) -> str:
    """The owner a grant speaks for: to start an upload while it is fresh, to go on with one for
    ``grant_continue_seconds`` more; :class:`Unauthorized` otherwise."""
    limits = deployment().limits
    try:
        claims = jwt.decode(
            grant,
            _secret(),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
            leeway=limits.grant_continue_seconds,  # expiry for new uploads is checked below
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("this upload grant has expired; ask the app for a new one", code="GrantExpired") from error
    except jwt.InvalidTokenError as error:
        raise Unauthorized("this upload grant is not valid", code="InvalidGrant") from error
    if starting and int(claims["exp"]) < (now or time.time()):
        raise Unauthorized("this upload grant no longer starts uploads; ask the app for a new one", code="GrantExpired")
    return str(claims["sub"])
