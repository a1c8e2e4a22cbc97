"""The CLI's habits: --json on either side of the command's name, --version."""

from __future__ import annotations

import json

import pytest

from reelstack_cli import main as cli


@pytest.mark.parametrize(
    "argv",
    [["--json", "token", "--user", "alice"], ["token", "--json", "--user", "alice"], ["token", "--user", "alice"]],
)
def test_json_is_taken_before_or_after_the_command(argv: list[str]) -> None:
    args = cli.parser().parse_args(argv)
    assert args.json is ("--json" in argv) and args.command == "token"


def test_json_after_a_nested_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.parser().parse_args(["assets", "list", "--json"]).json is True
    assert cli.parser().parse_args(["assets", "list"]).json is False


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.parser().parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("reelstack 0.")


def test_the_same_document_whichever_side_json_is_on(capsys: pytest.CaptureFixture[str]) -> None:
    printed = []
    for argv in (["--json", "openapi"], ["openapi", "--json"]):
        cli.main(argv)
        printed.append(json.loads(capsys.readouterr().out))
    assert printed[0] == printed[1] and printed[0]["openapi"].startswith("3.")
