"""Per-client throttling: 429 with Retry-After past the rate."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from tests.unit.conftest import load_event, load_handler


def test_a_client_past_its_rate_gets_429_with_retry_after(
    aws: None, setenv: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelstack.api import throttle
    from reelstack.api.throttle import admit
    from reelstack.errors import TooManyRequests

    setenv(CLIENT_REQUESTS_PER_SECOND="3")
    for _ in range(3):
        admit("alice", now=1000.2)
    with pytest.raises(TooManyRequests) as refused:
        admit("alice", now=1000.9)
    assert refused.value.retry_after_seconds == 1
    admit("bob", now=1000.9)  # per client
    admit("alice", now=1001.0)  # the next second
    handler, event = load_handler("api"), load_event("api/get-upload.json")
    # The four calls below share one second's window, however slowly a loaded machine runs them.
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: 2000.5))
    statuses = [handler(event, None)["statusCode"] for _ in range(3)]
    answer = handler(event, None)
    assert statuses == [404, 404, 404]  # admitted (the sample's upload does not exist)
    assert answer["statusCode"] == 429
    assert answer["headers"]["Retry-After"] == "1"
    assert json.loads(answer["body"])["error"]["code"] == "TooManyRequests"


def test_new_pictures_past_an_assets_or_an_owners_hour_get_429_until_the_next_hour(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelstack.api import throttle
    from reelstack.errors import TooManyRequests

    monkeypatch.setattr(throttle, "RENDERS_PER_ASSET_HOUR", 2)
    monkeypatch.setattr(throttle, "RENDERS_PER_OWNER_HOUR", 3)
    hour = 3600 * 500
    throttle.admit_render("asset-a", "alice", now=hour + 10)
    throttle.admit_render("asset-a", "alice", now=hour + 20)
    with pytest.raises(TooManyRequests, match="this video") as refused:
        throttle.admit_render("asset-a", "alice", now=hour + 600)
    assert refused.value.retry_after_seconds == 3000  # to the next hour
    throttle.admit_render("asset-b", "alice", now=hour + 600)  # another video of hers: her third
    with pytest.raises(TooManyRequests, match="your videos"):
        throttle.admit_render("asset-c", "alice", now=hour + 700)
    throttle.admit_render("asset-d", "bob", now=hour + 700)  # per owner
    throttle.admit_render("asset-a", "alice", now=hour + 3600)  # the next hour
