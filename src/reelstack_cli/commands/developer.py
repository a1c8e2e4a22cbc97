"""``reelstack invoke``, ``completion``, ``diagram`` and ``openapi``: the developer's loop."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from reelstack.api.auth import issue_dev_token
from reelstack_cli.commands.common import (
    emit,
    pairs,
    progress,
    progress_console,
    require_cloud,
)
from reelstack_cli.deploy import current_parameters, deploy_local, dev_secret
from reelstack_cli.invoke import invoke, read_event, resolve, signed_as
from reelstack_cli.settings import settings


def cmd_invoke(args: argparse.Namespace) -> None:
    config = settings()
    logical_id = resolve(args.function)
    event = read_event(args.event, sys.stdin.read)
    if args.user:
        event = signed_as(event, issue_dev_token(dev_secret(config, create=False), args.user))
    require_cloud(config)
    variables = pairs(args.env, "--env")
    if not args.no_build:  # what changed, with the parameters the stack has now (not the defaults)
        deploy_local(config, progress(time.monotonic()), current_parameters(config))
    invocation = invoke(config, logical_id, event, variables)
    sys.stderr.write(
        invocation.logs if invocation.logs.endswith("\n") or not invocation.logs else invocation.logs + "\n"
    )
    emit(args, invocation.as_dict(), lambda: print(json.dumps(invocation.result, indent=2)))
    if invocation.failed:
        error = invocation.result if isinstance(invocation.result, dict) else {}
        named, message = error.get("errorType", "an error"), error.get("errorMessage", "")
        progress_console.print(f"[red]error:[/red] {escape(f'{logical_id} raised {named}: {message}')}")
        sys.exit(1)


def cmd_completion(args: argparse.Namespace) -> None:
    import shtab

    from reelstack_cli.main import parser  # the whole CLI, which imports this module

    script = shtab.complete(parser(), shell=args.shell)
    emit(args, {"shell": args.shell, "script": script}, lambda: print(script))


def cmd_diagram(args: argparse.Namespace) -> None:
    from reelstack_cli.settings import STATE_MACHINE
    from reelstack_draw.diagram import render_svg

    svg = render_svg(json.loads(STATE_MACHINE.read_text()))
    if args.out:
        Path(args.out).write_text(svg)
        emit(args, {"written": args.out}, lambda: progress_console.print(f"wrote {args.out}"))
    else:
        emit(args, {"svg": svg}, lambda: sys.stdout.write(svg))


def cmd_openapi(args: argparse.Namespace) -> None:
    from reelstack.api.openapi import document

    print(json.dumps(document(), indent=2, ensure_ascii=False))


def register(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    invoke_ = command(
        commands,
        "invoke",
        help="run one deployed function with an event, as `sam local invoke` does (no Docker)",
        description="Builds what changed, deploys it to the local cloud, runs FUNCTION there once with the "
        "event, prints the end of its log (4 KB) on stderr and its result (or its named error) on stdout; "
        "the exit status is 1 if it raised. Example: reelstack invoke plan -e events/plan/job-with-media.json",
    )
    invoke_.add_argument("function", help="the template's logical id (PlanFunction) or the folder (plan)")
    invoke_.add_argument("-e", "--event", metavar="FILE", help="the event: a JSON file, or - for stdin (default {})")
    invoke_.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="override a variable")
    invoke_.add_argument("--user", help="sign the API event (events/api/*.json) with this user's development token")
    invoke_.add_argument("--no-build", action="store_true", help="run what is deployed; do not build and deploy first")
    invoke_.set_defaults(run=cmd_invoke)

    completion = command(
        commands,
        "completion",
        help="print a shell completion script",
        description='bash: eval "$(reelstack completion bash)" in ~/.bashrc; zsh: reelstack completion zsh > '
        "~/.zfunc/_reelstack (a folder on $fpath)",
    )
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    completion.set_defaults(run=cmd_completion)

    diagram = command(commands, "diagram", help="draw the state machine as SVG (docs/pipeline.svg) from its ASL")
    diagram.add_argument("--out", metavar="FILE", help="write it there instead of stdout")
    diagram.set_defaults(run=cmd_diagram)

    openapi = command(commands, "openapi", help="print the API's OpenAPI description (docs/openapi.json)")
    openapi.set_defaults(run=cmd_openapi)
