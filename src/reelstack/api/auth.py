"""Who is calling: the JWT's ``sub`` is the owner id.

Two modes, chosen by template parameters:
- development: HS256 tokens signed with a secret that only the local cloud and the CLI know
  (``reelstack token --user NAME`` prints one);
- production: RS256/ES256 tokens from an OIDC issuer (Cognito or any other), checked against its JWKS.
With neither configured every request is refused: an API must not run open by accident.
"""

from __future__ import annotations

import time
import unicodedata
from functools import cache

import jwt

from reelstack.config import AuthSettings, deployment
from reelstack.errors import Unauthorized

DEV_ISSUER = "reelstack-dev"
DEV_TOKEN_SECONDS = 12 * 3600
_LEEWAY_SECONDS = 30
_MAX_OWNER_LENGTH = 128


@cache
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # Keys are cached across invocations of a warm function; an unknown kid refetches once.
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>", code="MissingToken")
    return token.strip()


def owner_of(authorization: str | None, settings: AuthSettings | None = None) -> str:
    """The verified owner id of the request's bearer token, or :class:`Unauthorized`."""
    settings = settings or deployment().auth
    token = bearer_token(authorization)
    options = {"require": ["exp", "sub"]}
    try:
        if settings.jwks_url:
            key = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256", "ES256"],
                issuer=settings.issuer or None,
                audience=settings.audience or None,
                options={**options, "verify_aud": bool(settings.audience)},
                leeway=_LEEWAY_SECONDS,
            )
        elif settings.dev_secret:
            claims = jwt.decode(
                token,
                settings.dev_secret,
                algorithms=["HS256"],
                issuer=DEV_ISSUER,
                options={**options, "verify_aud": False},
                leeway=_LEEWAY_SECONDS,
            )
        else:
            raise Unauthorized("the API has no token issuer configured", code="AuthNotConfigured")
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("the token has expired", code="TokenExpired") from error
    except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
        raise Unauthorized(f"the token is not valid: {error}", code="InvalidToken") from error
    return _owner_id(claims.get("sub"))


def _owner_id(sub: object) -> str:
    if (
        not isinstance(sub, str)
        or not sub
        or len(sub) > _MAX_OWNER_LENGTH
        or any(unicodedata.category(char).startswith("C") for char in sub)
    ):
        raise Unauthorized("the token's sub is not a usable owner id", code="InvalidToken")
    return sub


def issue_dev_token(secret: str, user: str, seconds: int = DEV_TOKEN_SECONDS) -> str:
    """A development token for ``user`` (the local cloud's API accepts it; AWS deployments do not)."""
    now = int(time.time())
    claims = {"sub": _owner_id(user), "iss": DEV_ISSUER, "iat": now, "exp": now + seconds}
    return jwt.encode(claims, secret, algorithm="HS256")
