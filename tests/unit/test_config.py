"""Configuration: read in one place, and nothing bound when a module is imported."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reelstack.config import deployment
from reelstack.store.records import AssetModel
from reelstack_cli.settings import CHECKOUT


def test_only_config_reads_the_environment() -> None:
    for path in (CHECKOUT / "src" / "reelstack").rglob("*.py"):
        if path.name != "config.py":
            assert "os.environ" not in path.read_text() and "getenv" not in path.read_text(), path
    for path in (CHECKOUT / "functions").rglob("*.py"):
        assert "os.environ" not in path.read_text(), path


@pytest.mark.usefixtures("aws")
def test_records_find_their_table_when_used_not_when_imported(setenv: Callable[..., None]) -> None:
    AssetModel("01kbbbbbbbbbbbbbbbbbbbbbbb", owner_id="alice", status="ready").save()
    setenv(ASSETS_TABLE="unit-UploadsTable")  # another table, after the module was imported
    assert AssetModel.Meta.table_name == "unit-UploadsTable"
    assert AssetModel.count() == 0
    setenv(ASSETS_TABLE="unit-AssetsTable")
    assert AssetModel.get("01kbbbbbbbbbbbbbbbbbbbbbbb").owner_id == "alice"


def test_the_deployment_takes_every_setting_from_its_environment(setenv: Callable[..., None]) -> None:
    setenv(
        STATE_MACHINE_ARN="arn:machine",
        PLAYBACK_SECRET="p" * 32,
        CLIENT_REQUESTS_PER_SECOND="7",
        MAX_SOURCE_SECONDS="600",
        FAULT_INJECTION="probe,stall:hls",
        PUBLIC_API_URL="https://video.example.com/",
    )
    settings = deployment()
    assert (settings.state_machine_arn, settings.requests_per_second, settings.max_source_seconds) == (
        "arn:machine",
        7,
        600.0,
    )
    assert settings.faults.names == {"probe", "stall:hls"} and settings.public_api_url == "https://video.example.com"
