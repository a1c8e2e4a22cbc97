"""``reelstack``: the local cloud, deployment and stack outputs.

Progress goes to stderr; results go to stdout (one JSON document with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from reelstack_cli.build_tools import BuildError
from reelstack_cli.clients import local_session
from reelstack_cli.demo import run_demo
from reelstack_cli.deploy import DeployError, deploy_aws, deploy_local, stack_outputs
from reelstack_cli.localcloud import LocalCloud, LocalCloudError
from reelstack_cli.settings import settings

progress_console = Console(stderr=True, highlight=False)


class CommandError(RuntimeError):
    """A command failed in a way the user can act on; printed without a traceback."""


def _emit(args: argparse.Namespace, result: Any, human: Callable[[], None]) -> None:
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        human()


def _progress(started: float) -> Callable[[str], None]:
    def report(message: str) -> None:
        progress_console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}")

    return report


# -- local ---------------------------------------------------------------------------------------


def cmd_local(args: argparse.Namespace) -> None:
    cloud = LocalCloud(settings())
    if args.action == "start":
        started = time.monotonic()
        with progress_console.status("starting the local cloud (LocalStack, host mode)") as spinner:
            status = cloud.start(on_wait=lambda elapsed: spinner.update(f"starting the local cloud ({elapsed:.0f}s)"))
        elapsed = time.monotonic() - started
        result = {**status.as_dict(), "startSeconds": round(elapsed, 2)}
        _emit(
            args,
            result,
            lambda: print(
                f"local cloud ready at {status.endpoint} in {elapsed:.1f}s "
                f"(LocalStack {status.version}, pid {status.pid})"
            ),
        )
    elif args.action == "stop":
        was_running = cloud.stop(clean=args.clean)
        _emit(
            args,
            {"stopped": was_running, "cleaned": args.clean},
            lambda: print("local cloud stopped" if was_running else "local cloud was not running"),
        )
    else:
        status = cloud.status()

        def show() -> None:
            if not status.running:
                print(f"local cloud is not running (endpoint {status.endpoint})")
                return
            print(f"local cloud running at {status.endpoint}, LocalStack {status.version}, pid {status.pid}")
            for name, state in sorted(status.services.items()):
                print(f"  {name:<16} {state}")
            print(f"  log: {status.log_file}")

        _emit(args, status.as_dict(), show)
        if not status.running:
            sys.exit(3)


# -- deploy and outputs --------------------------------------------------------------------------


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(f"--parameter takes KEY=VALUE, got {pair!r}")
        parameters[key] = value
    return parameters


def cmd_deploy(args: argparse.Namespace) -> None:
    started = time.monotonic()
    report = _progress(started)
    parameters = _parameters(args.parameter)
    if args.target == "aws":
        deploy_aws(args.stack or "reelstack", report, parameters)
        return
    config = settings()
    if not LocalCloud(config).status().running:
        raise CommandError(f"the local cloud is not running at {config.endpoint}: run `reelstack local start`")
    if args.stack:
        config = type(config)(config.cloud_dir, config.port, args.stack)
    outputs = deploy_local(config, report, parameters)
    elapsed = time.monotonic() - started
    _emit(
        args,
        {"stackName": config.stack_name, "deploySeconds": round(elapsed, 2), "outputs": outputs},
        lambda: [
            print(f"deployed {config.stack_name} in {elapsed:.1f}s"),
            *[print(f"  {key:<18} {value}") for key, value in outputs.items()],
        ],
    )


def cmd_outputs(args: argparse.Namespace) -> None:
    config = settings()
    outputs = stack_outputs(local_session(config).client("cloudformation"), config.stack_name)
    _emit(args, outputs, lambda: [print(f"{key:<18} {value}") for key, value in outputs.items()])


def cmd_demo(args: argparse.Namespace) -> None:
    result = run_demo(settings(), _progress(time.monotonic()))

    def show() -> None:
        print(f"asset {result['assetId']}: execution {result['status']} in {result['seconds']}s")
        for step in result["steps"]:
            print(f"  {step['state']:<24} {step['outcome']:<10} {step.get('ms', '-')} ms")
        if result["status"] == "SUCCEEDED":
            print(f"  ffmpeg {result['output']['ffmpeg']['version']} ran from the layer; the asset record now holds:")
            print("  " + json.dumps(result["assetRecord"], default=str))
        else:
            print(f"  error {result['error']}: {result['cause']}")

    _emit(args, result, show)
    if result["status"] != "SUCCEEDED":
        sys.exit(1)


# -- entry point ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="reelstack", description=__doc__.splitlines()[0])
    root.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    commands = root.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local cloud (LocalStack in host mode, no Docker)")
    local.add_argument("action", choices=["start", "stop", "status"])
    local.add_argument("--clean", action="store_true", help="with stop: also delete the local cloud's state")
    local.set_defaults(run=cmd_local)

    deploy = commands.add_parser("deploy", help="build and deploy template.yaml")
    deploy.add_argument("--target", choices=["local", "aws"], default="local")
    deploy.add_argument("--stack", help="stack name (default: $REELSTACK_STACK or reelstack-dev)")
    deploy.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter override (repeatable)"
    )
    deploy.set_defaults(run=cmd_deploy)

    outputs = commands.add_parser("outputs", help="the deployed stack's outputs")
    outputs.set_defaults(run=cmd_outputs)
    demo = commands.add_parser("demo", help="run the deployed pipeline once and show the outcome")
    demo.set_defaults(run=cmd_demo)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (CommandError, LocalCloudError, DeployError, BuildError) as error:
        if args.json:
            print(json.dumps({"error": {"code": type(error).__name__, "message": str(error)}}))
        progress_console.print(f"[red]error:[/red] {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()
