"""Configuration: read in one place, and nothing bound when a module is imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reelstack.config import TEMPLATE_PARAMETERS, Deployment, deployment
from reelstack.store.records import AssetModel
from reelstack_cli.settings import CHECKOUT, TEMPLATE
from reelstack_cli.template import load_template


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


def test_every_default_a_template_parameter_decides_is_the_templates_own() -> None:
    """Code run without the template's environment (unit tests, one function invoked by hand) behaves
    as deployed: config.py's defaults are template.yaml's parameter defaults, and every parameter it
    names exists."""
    parameters = load_template(TEMPLATE)["Parameters"]
    defaults = Deployment()
    for field, parameter in TEMPLATE_PARAMETERS.items():
        value: Any = defaults
        for name in field.split("."):
            value = getattr(value, name)
        declared = parameters[parameter]["Default"]
        if isinstance(value, tuple):  # seconds, comma-separated
            assert tuple(float(part) for part in declared.split(",")) == value, parameter
        elif isinstance(value, bool):
            assert declared == ("on" if value else "off"), parameter
        elif isinstance(value, int | float):
            assert float(declared) == value, f"{field} is {value} in config.py, {declared} in template.yaml"
        else:
            assert declared == value, f"{field} is {value!r} in config.py, {declared!r} in template.yaml"
