"""Waiting for an uploaded asset as an app's library screen does: polling ``GET /assets/{id}``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reelstack_cli.api_client import ApiClient


class AssetTimeout(TimeoutError):
    """The asset did not reach ready or failed in time."""


TERMINAL_ASSET_STATES = {"ready", "failed", "deleted"}


def wait_for_asset(
    api: ApiClient, asset_id: str, timeout: float, on_change: Callable[[dict[str, Any]], None] = lambda asset: None
) -> dict[str, Any]:
    """Poll ``GET /assets/{id}`` until the asset is ready or failed (what an app's library screen does);
    ``on_change`` hears of each new status or pipeline step."""
    deadline = time.monotonic() + timeout
    delay = 0.25
    seen = None
    while True:
        asset = api.get(f"/assets/{asset_id}")
        if (asset["status"], asset.get("step")) != seen:
            seen = (asset["status"], asset.get("step"))
            on_change(asset)
        if asset["status"] in TERMINAL_ASSET_STATES:
            return asset
        if time.monotonic() > deadline:
            raise AssetTimeout(f"asset {asset_id} is still {asset['status']} after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def describe_progress(asset: dict[str, Any]) -> str:
    """``asset processing transcoding``: a status line for ``wait_for_asset``'s ``on_change``."""
    return f"asset {asset['status']} {asset.get('step', '')}".strip()
