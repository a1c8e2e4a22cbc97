"""The CLI's habits: --json on either side of the command's name, --version, errors that say what to
do next, shell completion, and the parts of ``reelstack invoke`` that need no cloud (the rest is in
tests/integration/test_invoke.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import urllib3
from standardwebhooks.webhooks import Webhook

from reelstack.webhooks.signing import new_secret
from reelstack_cli import invoke, localcloud
from reelstack_cli import main as cli
from reelstack_cli.commands import common, developer
from reelstack_cli.settings import CHECKOUT, settings
from reelstack_cli.webhooks import Delivery, Receiver

EVENTS = CHECKOUT / "events"


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


# -- errors are sentences with the next step -------------------------------------------------------


def test_no_local_cloud_is_a_sentence_with_the_next_step_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REELSTACK_LOCAL_PORT", "9")  # nothing listens on the discard port
    monkeypatch.setenv("REELSTACK_CLOUD_DIR", str(tmp_path))
    for argv in (["outputs"], ["outputs", "--json"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        printed = capsys.readouterr()
        assert done.value.code == 1 and "Traceback" not in printed.err
        assert "reelstack local start" in " ".join(printed.err.split())
    assert json.loads(printed.out)["error"]["code"] == "Unreachable"


def test_an_unexpected_error_says_how_to_see_where_it_happened(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(developer, "cmd_openapi", broken)
    with pytest.raises(SystemExit) as done:
        cli.main(["openapi"])
    assert done.value.code == 1 and "REELSTACK_DEBUG=1" in " ".join(capsys.readouterr().err.split())
    monkeypatch.setenv("REELSTACK_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["openapi"])


def test_a_local_cloud_older_than_its_plugins_says_to_restart(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """After a pull, `make demo` reinstalls the plugins but finds the local cloud running with the old
    ones (LocalStack loads them when it starts): `local start` says so instead of carrying on silently."""
    record = (
        tmp_path / "venv" / "lib" / "python3.13" / "site-packages" / "reelstack_localcloud-0.1.0.dist-info" / "RECORD"
    )
    record.parent.mkdir(parents=True)
    record.write_text("")
    monkeypatch.setattr(localcloud, "LOCALSTACK_PYTHON", tmp_path / "venv" / "bin" / "python")
    monkeypatch.setenv("REELSTACK_CLOUD_DIR", str(tmp_path / "cloud"))
    cloud = localcloud.LocalCloud(settings())
    cloud.pid_file.parent.mkdir(parents=True)
    cloud.pid_file.write_text(str(os.getpid()))  # a live process stands in for LocalStack
    # It answers: `local start` finds it running.
    monkeypatch.setattr(localcloud.LocalCloud, "_health", lambda self, timeout=2.0: {"version": "2026.3.0"})

    started = time.time() - 60
    os.utime(cloud.pid_file, (started, started))
    cli.main(["local", "start"])
    assert "restart it" in " ".join(capsys.readouterr().err.split())

    os.utime(record, (started - 60, started - 60))  # installed before the cloud started
    cli.main(["local", "start"])
    assert "restart" not in capsys.readouterr().err


def test_bash_completion_completes_commands_and_their_options(tmp_path: Path) -> None:
    script = tmp_path / "reelstack.bash"
    script.write_text(subprocess.run([sys.executable, "-m", "reelstack_cli.main", "completion", "bash"],
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip

    def complete(line: str) -> list[str]:
        words = line.split() + ([""] if line.endswith(" ") else [])
        program = (
            f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{line}"; COMP_POINT={len(line)}; _shtab_reelstack; echo "${{COMPREPLY[@]}}"'
        )
        return subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True).stdout.split()

    assert complete("reelstack inv") == ["invoke"]
    assert "--no-build" in complete("reelstack invoke --no")


# -- reelstack invoke: the parts that need no cloud ---------------------------------------------------


def test_a_function_is_named_by_its_logical_id_or_its_folder() -> None:
    assert invoke.resolve("PlanFunction") == invoke.resolve("plan") == invoke.resolve("Plan") == "PlanFunction"
    assert invoke.resolve("upload_sweeper") == "UploadSweeperFunction"
    with pytest.raises(invoke.InvokeError, match=r"its functions are: .*PlanFunction"):
        invoke.resolve("transcoder")


def test_events_come_from_a_file_or_stdin_and_must_be_json_objects(tmp_path: Path) -> None:
    assert invoke.read_event(str(EVENTS / "plan" / "job-with-media.json"), lambda: "")["assetId"]
    assert invoke.read_event("-", lambda: '{"from": "stdin"}') == {"from": "stdin"}
    assert invoke.read_event(None, lambda: "") == {}
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(invoke.InvokeError, match="not an object"):
        invoke.read_event(str(tmp_path / "list.json"), lambda: "")
    with pytest.raises(invoke.InvokeError, match="not JSON"):
        invoke.read_event(str(tmp_path / "broken.json"), lambda: "")
    with pytest.raises(invoke.InvokeError, match="cannot read"):
        invoke.read_event(str(tmp_path / "missing.json"), lambda: "")


def test_user_signs_an_api_event_in_both_header_maps_and_nothing_else() -> None:
    event = json.loads((EVENTS / "api" / "list-assets.json").read_text())
    signed = invoke.signed_as(event, "TOKEN")
    assert signed["headers"]["Authorization"] == "Bearer TOKEN"
    assert signed["multiValueHeaders"]["Authorization"] == ["Bearer TOKEN"]
    assert [k for k in signed["headers"] if k.lower() == "authorization"] == ["Authorization"]
    with pytest.raises(invoke.InvokeError, match="API Gateway events only"):
        invoke.signed_as(json.loads((EVENTS / "plan" / "job-with-media.json").read_text()), "TOKEN")
    assert common.pairs(["A=1", "B=x=y"], "--env") == {"A": "1", "B": "x=y"}
    with pytest.raises(common.CommandError, match="--env takes NAME=VALUE"):
        common.pairs(["A"], "--env")


def test_webhooks_listen_verifies_the_raw_body_and_marks_repeats() -> None:
    secret, got = new_secret(), []
    receiver = Receiver([secret], got.append)
    receiver.start()
    try:
        body = b'{"type": "asset.ready", "eventId": "01kevent"}'
        stamp = int(time.time())
        signature = Webhook(secret).sign("01kevent", datetime.fromtimestamp(stamp, UTC), body.decode())
        headers = {"webhook-id": "01kevent", "webhook-timestamp": str(stamp), "webhook-signature": signature}
        statuses = [urllib3.request("POST", receiver.url, body=payload, headers=headers).status
                    for payload in (body, body, body.replace(b"ready", b"failed"))]  # fmt: skip
    finally:
        receiver.stop()
    assert statuses == [200, 200, 400]
    assert [(d.verified, d.duplicate) for d in got] == [(True, False), (True, True), (False, False)]
    assert got[0] == Delivery("01kevent", True, False, {"type": "asset.ready", "eventId": "01kevent"})
