"""The toolcheck domain and handler, with DynamoDB from moto and tables built from template.yaml."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from reelstack.errors import InvalidInput, ToolchainFailed, ToolchainMissing
from reelstack.toolchain import ffmpeg_build
from reelstack_cli.settings import CHECKOUT
from tests.unit.conftest import load_handler

EVENTS = CHECKOUT / "events" / "toolcheck"


def _fake_ffmpeg(folder: Path, script: str) -> Path:
    binary = folder / "ffmpeg"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_the_version_is_read_from_the_banner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _fake_ffmpeg(tmp_path, 'echo "ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright (c)"\n')
    monkeypatch.setenv("FFMPEG_PATH", str(binary))
    build = ffmpeg_build()
    assert (build.version, build.path) == ("9.0.2", str(binary))


def test_a_missing_ffmpeg_is_a_named_deployment_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FFMPEG_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainMissing, match="FFmpeg layer"):
        ffmpeg_build()


def test_an_ffmpeg_that_fails_is_a_named_transient_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFMPEG_PATH", str(_fake_ffmpeg(tmp_path, "echo 'Illegal instruction' >&2\nexit 132\n")))
    with pytest.raises(ToolchainFailed, match="exited 132") as raised:
        ffmpeg_build()
    assert raised.value.transient


@pytest.mark.usefixtures("aws")
def test_the_handler_records_the_build_on_the_asset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFMPEG_PATH", str(_fake_ffmpeg(tmp_path, 'echo "ffmpeg version 7.1.1 Copyright"\n')))
    handler = load_handler("toolcheck")
    event = json.loads((EVENTS / "check.json").read_text())
    assert handler(event, None)["version"] == "7.1.1"

    from reelstack.models import AssetModel

    asset = AssetModel.get(event["assetId"])
    assert asset.toolchain["version"] == "7.1.1" and asset.toolchain["checkedAt"].endswith("Z")


@pytest.mark.usefixtures("aws")
def test_the_handler_rejects_an_event_without_asset_id() -> None:
    handler = load_handler("toolcheck")
    with pytest.raises(InvalidInput):
        handler(json.loads((EVENTS / "missing-asset-id.json").read_text()), None)
    assert os.environ["ASSETS_TABLE"]  # the fixture's table, built from template.yaml
