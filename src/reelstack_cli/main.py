"""``reelstack``: the local cloud, deployment, the API as a client uses it, and the developer's tools.

Progress goes to stderr; results go to stdout (one JSON document with ``--json``). Each group of
commands is a module of reelstack_cli.commands that registers its own parsers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import metadata
from typing import Any

from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from rich.markup import escape

from reelstack_cli.api_client import ApiError
from reelstack_cli.build_tools import BuildError
from reelstack_cli.commands import assets, cloud, developer, dlq, webhooks
from reelstack_cli.commands.common import CommandError, progress_console
from reelstack_cli.deploy import DeployError
from reelstack_cli.invoke import InvokeError
from reelstack_cli.localcloud import LocalCloudError
from reelstack_cli.settings import settings
from reelstack_cli.uploader import UploadError
from reelstack_cli.waiting import AssetTimeout

GROUPS = (cloud, assets, developer, dlq, webhooks)
# Errors a user can act on: printed as a sentence, without a traceback.
EXPECTED = (CommandError, LocalCloudError, DeployError, BuildError, UploadError, AssetTimeout, ApiError, InvokeError)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="reelstack", description=__doc__.splitlines()[0])
    root.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    root.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('reelstack')}")
    # --json after the command's name too (`reelstack outputs --json`): each command takes it as well,
    # and leaves the root's value alone when it is not given there.
    json_after = argparse.ArgumentParser(add_help=False)
    json_after.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def command(group: Any, name: str, **options: Any) -> argparse.ArgumentParser:
        return group.add_parser(name, parents=[json_after], **options)

    commands = root.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands, command)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except EXPECTED as error:
        _fail(args, type(error).__name__, str(error))
    except (EndpointConnectionError, ConnectionClosedError) as error:
        endpoint = settings().endpoint
        _fail(args, "Unreachable", f"the local cloud does not answer at {endpoint} ({type(error).__name__}): "
              "start it with `reelstack local start`, or `make demo`")  # fmt: skip
    except KeyboardInterrupt:
        _fail(args, "Interrupted", "stopped by Ctrl-C; an upload resumes where it was with the same command")
    except Exception as error:
        if os.environ.get("REELSTACK_DEBUG"):
            raise
        _fail(args, type(error).__name__, f"{error}. This is unexpected: run again with REELSTACK_DEBUG=1 to see "
              "where it happened, and report it with that output")  # fmt: skip


def _fail(args: argparse.Namespace, code: str, message: str) -> None:
    if args.json:
        print(json.dumps({"error": {"code": code, "message": message}}))
    progress_console.print(f"[red]error:[/red] {escape(message)}")
    sys.exit(1)


if __name__ == "__main__":
    main()
