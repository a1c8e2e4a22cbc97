"""Who is calling: development tokens, and requests without a good one."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from reelstack.api.auth import DEV_ISSUER, issue_dev_token, owner_of
from reelstack.errors import Unauthorized
from tests.unit.conftest import call


def test_dev_tokens_verify_and_bad_ones_do_not(setenv: Callable[..., None]) -> None:
    setenv(JWT_DEV_SECRET="s" * 32)
    assert owner_of(f"Bearer {issue_dev_token('s' * 32, 'bob')}") == "bob"
    cases = {
        "MissingToken": None,
        "InvalidToken": f"Bearer {issue_dev_token('x' * 32, 'bob')}",  # another secret
        "TokenExpired": "Bearer "
        + jwt.encode({"sub": "bob", "iss": DEV_ISSUER, "exp": int(time.time()) - 3600}, "s" * 32, algorithm="HS256"),
    }
    for code, header in cases.items():
        with pytest.raises(Unauthorized) as refused:
            owner_of(header)
        assert refused.value.code == code
    setenv(JWT_DEV_SECRET="")
    with pytest.raises(Unauthorized) as refused:
        owner_of(f"Bearer {issue_dev_token('s' * 32, 'bob')}")
    assert refused.value.code == "AuthNotConfigured"


@pytest.mark.parametrize("auth", [None, "Bearer", "Basic YWxpY2U6c2VjcmV0", "Bearer not.a.jwt"])
def test_requests_without_a_good_token_get_401(aws: None, auth: str | None) -> None:
    status, body = call("create-upload", auth=auth)
    assert status == 401
    assert body["error"]["code"] in ("MissingToken", "InvalidToken")
