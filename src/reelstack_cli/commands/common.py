"""What every command shares: the console for progress, printing results (``--json``), the API client
the commands that call the API use, and the errors a user can act on."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.deploy import dev_secret, local_outputs
from reelstack_cli.localcloud import OUTDATED_PLUGINS, LocalCloud
from reelstack_cli.settings import settings

progress_console = Console(stderr=True, highlight=False)


class CommandError(RuntimeError):
    """A command failed in a way the user can act on; printed without a traceback."""


def emit(args: argparse.Namespace, result: Any, human: Callable[[], None]) -> None:
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        human()


def progress(started: float) -> Callable[[str], None]:
    def report(message: str) -> None:
        progress_console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}")

    return report


def pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` from a repeatable option -> a dict."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"{option} takes NAME=VALUE, got {pair!r}")
        parsed[key] = value
    return parsed


def user(args: argparse.Namespace) -> str:
    return getattr(args, "user", None) or os.environ.get("REELSTACK_USER") or "dev"


def api_client(args: argparse.Namespace) -> ApiClient:
    """The API's URL and a token: from options or the environment (AWS), else the local cloud's."""
    api_url = getattr(args, "api_url", None) or os.environ.get("REELSTACK_API_URL")
    token = getattr(args, "token", None) or os.environ.get("REELSTACK_TOKEN")
    config = settings()
    if not api_url:
        api_url = local_outputs(config).get("apiUrl")
        if not api_url:
            raise CommandError("the deployed stack has no apiUrl output: run `reelstack deploy`")
    if not token:
        token = issue_dev_token(dev_secret(config, create=False), user(args))
    return ApiClient(api_url, token)


def note_outdated_plugins(cloud: LocalCloud) -> None:
    if cloud.runs_outdated_plugins():
        progress_console.print(f"[yellow]note:[/yellow] {escape(OUTDATED_PLUGINS)}")


def require_cloud(config: Any) -> None:
    if not LocalCloud(config).status().running:
        raise CommandError(f"the local cloud is not running at {config.endpoint}: run `reelstack local start`")


def api_options(command: argparse.ArgumentParser) -> None:
    """The options of every command that calls the API as a user."""
    command.add_argument("--user", help="development user the token is made for (default $REELSTACK_USER or dev)")
    command.add_argument("--token", help="bearer token to use instead (default $REELSTACK_TOKEN)")
    command.add_argument("--api-url", help="API base URL (default $REELSTACK_API_URL or the local stack's)")
