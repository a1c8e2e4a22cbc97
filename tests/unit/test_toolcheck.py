"""The toolcheck diagnostics function with its sample events: the layer's FFmpeg build, recorded on the asset."""

from __future__ import annotations

import json

import pytest

from reelstack.errors import InvalidInput
from reelstack.media.toolchain import ffmpeg_build
from reelstack.store.records import AssetModel
from reelstack_cli.settings import CHECKOUT
from tests.unit.conftest import load_handler

EVENTS = CHECKOUT / "events" / "toolcheck"


@pytest.mark.usefixtures("aws")
def test_the_handler_records_the_build_on_the_asset() -> None:
    event = json.loads((EVENTS / "check.json").read_text())
    answer = load_handler("toolcheck")(event, None)
    assert answer["version"] == ffmpeg_build().version  # the pinned build the layer ships
    asset = AssetModel.get(event["assetId"])
    assert asset.toolchain["version"] == answer["version"] and asset.toolchain["checkedAt"].endswith("Z")


@pytest.mark.usefixtures("aws")
def test_the_handler_rejects_an_event_without_asset_id() -> None:
    with pytest.raises(InvalidInput):
        load_handler("toolcheck")(json.loads((EVENTS / "missing-asset-id.json").read_text()), None)
    assert list(AssetModel.scan()) == []  # nothing was recorded
