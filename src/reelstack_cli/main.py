"""``reelstack``: the local cloud, deployment and stack outputs.

Progress goes to stderr; results go to stdout (one JSON document with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import jwt
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress

from reelstack.api.auth import DEV_TOKEN_SECONDS, issue_dev_token
from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.build_tools import BuildError
from reelstack_cli.demo import DEMO_USER, run_demo
from reelstack_cli.deploy import DeployError, current_parameters, deploy_aws, deploy_local, dev_secret, local_outputs
from reelstack_cli.invoke import InvokeError, invoke, read_event, resolve, signed_as
from reelstack_cli.localcloud import OUTDATED_PLUGINS, LocalCloud, LocalCloudError
from reelstack_cli.settings import settings
from reelstack_cli.uploader import Uploader, UploadError, describe_progress, wait_for_asset
from reelstack_cli.waiting import AssetTimeout
from reelstack_cli.webhooks import Delivery, Receiver
from reelstack_draw.diagram import render_text

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
        _note_outdated_plugins(cloud)
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


def _pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` from a repeatable option -> a dict."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"{option} takes NAME=VALUE, got {pair!r}")
        parsed[key] = value
    return parsed


def cmd_deploy(args: argparse.Namespace) -> None:
    started = time.monotonic()
    report = _progress(started)
    parameters = _pairs(args.parameter, "--parameter")
    if args.target == "aws":
        deploy_aws(args.stack or "reelstack", report, parameters)
        return
    config = settings()
    _require_cloud(config)
    _note_outdated_plugins(LocalCloud(config))
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
    outputs = local_outputs(config)
    _emit(args, outputs, lambda: [print(f"{key:<18} {value}") for key, value in outputs.items()])


def cmd_demo(args: argparse.Namespace) -> None:
    result = run_demo(settings(), _progress(time.monotonic()))

    def show() -> None:
        upload, asset = result["upload"], result["asset"]
        print(
            f"uploaded {upload['bytes'] / 2**20:.1f} MiB in {upload['partCount']} parts "
            f"({upload['mibPerSecond']} MiB/s) through presigned URLs"
        )
        print(f"asset {result['assetId']} is {asset['status']} {result['secondsToOutcome']}s after the upload")
        print(f"  pipeline execution: {result['execution']['status']}")
        for step in result["execution"]["steps"]:
            print(f"    {step['state']:<24} {step['outcome']:<10} {step.get('ms', '-')} ms")
        if asset["status"] == "ready":
            media = asset["media"]
            print(f"  source: {media['width']}x{media['height']}, {media['durationSeconds']} s, {media['videoCodec']}")
            for rendition in asset["renditions"]:
                size = f"{rendition['width']}x{rendition['height']}"
                print(f"  rendition {rendition['name']:<6} {size:<9} {rendition['codecs']}")
            print(f"  HLS master: {asset['playback']['hls']}")
            print(f"  poster:     {asset['thumbnails']['poster']}")
        else:
            print(f"  error {asset['error']['code']}: {asset['error']['message']}")
        print(f"web page (signed in as {DEMO_USER}): {result['webPage']}")

    _emit(args, result, show)
    if result["status"] != "ready":
        sys.exit(1)


# -- the API as a client uses it ----------------------------------------------------------------


def _user(args: argparse.Namespace) -> str:
    return getattr(args, "user", None) or os.environ.get("REELSTACK_USER") or "dev"


def _api(args: argparse.Namespace) -> ApiClient:
    """The API's URL and a token: from options or the environment (AWS), else the local cloud's."""
    api_url = getattr(args, "api_url", None) or os.environ.get("REELSTACK_API_URL")
    token = getattr(args, "token", None) or os.environ.get("REELSTACK_TOKEN")
    config = settings()
    if not api_url:
        api_url = local_outputs(config).get("apiUrl")
        if not api_url:
            raise CommandError("the deployed stack has no apiUrl output: run `reelstack deploy`")
    if not token:
        token = issue_dev_token(dev_secret(config, create=False), _user(args))
    return ApiClient(api_url, token)


def _rate(text: str | None) -> float | None:
    if not text:
        return None
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    number, unit = (text[:-1], text[-1].lower()) if text[-1].lower() in units else (text, "")
    try:
        return float(number) * units.get(unit, 1)
    except ValueError as error:
        raise CommandError(f"--max-rate takes bytes per second like 500k or 8M, got {text!r}") from error


def cmd_token(args: argparse.Namespace) -> None:
    token = issue_dev_token(dev_secret(settings(), create=False), _user(args), seconds=args.seconds)
    _emit(args, {"token": token, "user": _user(args), "expiresInSeconds": args.seconds}, lambda: print(token))


def cmd_upload(args: argparse.Namespace) -> None:
    api = _api(args)
    path = Path(args.file)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=progress_console, transient=False) as bar:
        task = bar.add_task(f"uploading {path.name}", total=path.stat().st_size if path.is_file() else None)
        uploader = Uploader(
            api,
            owner=str(jwt.decode(api.token, options={"verify_signature": False}).get("sub", "")),
            parallel=args.parallel,
            checksums=not args.no_checksum,
            max_rate=_rate(args.max_rate),
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            on_event=lambda message: bar.console.print(f"[dim]{message}[/dim]"),
        )
        resume = "require" if args.resume else "never" if args.new else "auto"
        result = uploader.upload(path, title=args.title, content_type=args.content_type, resume=resume)
    if args.wait:
        result["asset"] = wait_for_asset(api, result["assetId"], args.timeout, _asset_progress())
    _emit(
        args,
        result,
        lambda: print(
            f"asset {result['assetId']} {result.get('asset', result)['status']}: "
            f"{result.get('bytes', 0) / 2**20:.1f} MiB in {result.get('seconds', 0)}s "
            f"({result.get('partsSent')} parts sent, {result.get('partsResumed', 0)} resumed)"
        ),
    )
    if args.wait and result["asset"]["status"] != "ready":
        sys.exit(1)


def _asset_progress() -> Callable[[dict[str, Any]], None]:
    report = _progress(time.monotonic())
    return lambda asset: report(describe_progress(asset))


def cmd_wait(args: argparse.Namespace) -> None:
    asset = wait_for_asset(_api(args), args.asset_id, args.timeout, _asset_progress())
    _emit(args, asset, lambda: print(json.dumps(asset, indent=2)))
    if asset["status"] != "ready":
        sys.exit(1)


def cmd_assets(args: argparse.Namespace) -> None:
    api = _api(args)
    if args.action == "list":
        query = f"/assets?limit={args.limit}" + (f"&cursor={args.cursor}" if args.cursor else "")
        page = api.get(query)

        def show_page() -> None:
            for item in page["items"]:
                print(f"{item['assetId']}  {item['status']:<10} {item['createdAt']}  {item['title']}")
            if page["nextCursor"]:
                print(f"more: reelstack assets list --cursor {page['nextCursor']}")

        _emit(args, page, show_page)
    elif args.action == "get":
        asset = api.get(f"/assets/{args.asset_id}")
        if args.graph:
            report = api.get(f"/assets/{args.asset_id}/execution")
            asset["pipeline"] = report
        _emit(args, asset, lambda: _show_asset(asset))
    elif args.action == "update":
        changes = {
            key: value
            for key, value in {
                "title": args.title,
                "description": args.description,
                "visibility": args.visibility,
                "tags": args.tag,
            }.items()
            if value is not None
        }
        asset = api.request("PATCH", f"/assets/{args.asset_id}", changes)
        _emit(args, asset, lambda: print(json.dumps(asset, indent=2)))
    else:
        api.delete(f"/assets/{args.asset_id}")
        _emit(args, {"deleted": args.asset_id}, lambda: print(f"deleted {args.asset_id}"))


def cmd_webhooks_listen(args: argparse.Namespace) -> None:
    """Register an endpoint on this machine, print what it receives (verified), delete it at the end."""
    api = None if args.secret else _api(args)

    def show(delivery: Delivery) -> None:
        if args.json:
            print(json.dumps({"webhookId": delivery.webhook_id, "verified": delivery.verified,
                              "duplicate": delivery.duplicate, "event": delivery.document}), flush=True)  # fmt: skip
            return
        document = delivery.document if isinstance(delivery.document, dict) else {}
        mark = "[green]verified[/green]" if delivery.verified else f"[red]refused: {escape(delivery.problem)}[/red]"
        again = " [dim](a repeat: same webhook-id)[/dim]" if delivery.duplicate else ""
        progress_console.print(f"{document.get('occurredAt', '')} {document.get('type', '?'):<18} "
                               f"{document.get('assetId') or '':<26} {mark}{again}")  # fmt: skip
        if delivery.verified and not args.quiet:
            print(json.dumps(delivery.document, indent=2), flush=True)

    receiver = Receiver([args.secret] if args.secret else [], show, port=args.port)
    endpoint = None
    if api is not None:
        request: dict[str, Any] = {"url": receiver.url, "description": "reelstack webhooks listen"}
        if args.events:
            request["events"] = args.events
        endpoint = api.post("/webhooks", request)
        receiver.secrets.append(endpoint["secret"])
    progress_console.print(
        f"listening on {receiver.url}"
        + (f" as webhook {endpoint['webhookId']} (secret {endpoint['secret']})" if endpoint else "")
        + "; Ctrl-C stops"
    )
    try:
        receiver.serve()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        if api is not None and endpoint is not None:
            api.delete(f"/webhooks/{endpoint['webhookId']}")
            progress_console.print(f"webhook {endpoint['webhookId']} deleted")


def _show_asset(asset: dict[str, Any]) -> None:
    report = asset.pop("pipeline", None)
    print(json.dumps(asset, indent=2))
    if report:
        print(f"\npipeline: execution {report['executionStatus']}")
        print(render_text(report["states"]))


def cmd_invoke(args: argparse.Namespace) -> None:
    config = settings()
    logical_id = resolve(args.function)
    event = read_event(args.event, sys.stdin.read)
    if args.user:
        event = signed_as(event, issue_dev_token(dev_secret(config, create=False), args.user))
    _require_cloud(config)
    variables = _pairs(args.env, "--env")
    if not args.no_build:  # what changed, with the parameters the stack has now (not the defaults)
        deploy_local(config, _progress(time.monotonic()), current_parameters(config))
    invocation = invoke(config, logical_id, event, variables)
    sys.stderr.write(
        invocation.logs if invocation.logs.endswith("\n") or not invocation.logs else invocation.logs + "\n"
    )
    _emit(args, invocation.as_dict(), lambda: print(json.dumps(invocation.result, indent=2)))
    if invocation.failed:
        error = invocation.result if isinstance(invocation.result, dict) else {}
        named, message = error.get("errorType", "an error"), error.get("errorMessage", "")
        progress_console.print(f"[red]error:[/red] {escape(f'{logical_id} raised {named}: {message}')}")
        sys.exit(1)


def _note_outdated_plugins(cloud: LocalCloud) -> None:
    if cloud.runs_outdated_plugins():
        progress_console.print(f"[yellow]note:[/yellow] {escape(OUTDATED_PLUGINS)}")


def _require_cloud(config: Any) -> None:
    if not LocalCloud(config).status().running:
        raise CommandError(f"the local cloud is not running at {config.endpoint}: run `reelstack local start`")


def cmd_completion(args: argparse.Namespace) -> None:
    import shtab

    script = shtab.complete(parser(), shell=args.shell)
    _emit(args, {"shell": args.shell, "script": script}, lambda: print(script))


def cmd_diagram(args: argparse.Namespace) -> None:
    from reelstack_cli.settings import STATE_MACHINE
    from reelstack_draw.diagram import render_svg

    svg = render_svg(json.loads(STATE_MACHINE.read_text()))
    if args.out:
        Path(args.out).write_text(svg)
        _emit(args, {"written": args.out}, lambda: progress_console.print(f"wrote {args.out}"))
    else:
        _emit(args, {"svg": svg}, lambda: sys.stdout.write(svg))


def _dead_letter_queues(args: argparse.Namespace) -> tuple[Any, dict[str, str]]:
    """The session to use and the stack's dead-letter queues (name -> URL), the asked one alone if named."""
    import boto3

    from reelstack.config import named_urls
    from reelstack_cli.clients import local_session
    from reelstack_cli.deploy import stack_outputs

    if args.target == "aws":
        session: Any = boto3.Session()
        outputs = stack_outputs(session.client("cloudformation"), args.stack or "reelstack")
    else:
        config = settings()
        _require_cloud(config)
        session = local_session(config)
        outputs = local_outputs(config)
    queues = named_urls(outputs.get("deadLetterQueues", ""))
    if not queues:
        raise CommandError("the stack has no dead-letter queues (deployed from an older template?): redeploy it")
    if args.queue and args.queue not in queues:
        raise CommandError(f"no dead-letter queue {args.queue!r}: the stack has {', '.join(sorted(queues))}")
    return session, {name: url for name, url in queues.items() if not args.queue or name == args.queue}


def cmd_dlq(args: argparse.Namespace) -> None:
    from botocore.config import Config

    from reelstack import deadletters

    session, queues = _dead_letter_queues(args)
    sqs = session.client("sqs")
    if args.action == "list":
        letters = {name: deadletters.peek(sqs, name, url, args.limit) for name, url in queues.items()}
        depths = {name: deadletters.depth(sqs, url) for name, url in queues.items()}
        result = {
            "queues": [
                {"name": name, "depth": depths[name], "messages": [letter.summary() for letter in letters[name]]}
                for name in queues
            ]
        }

        def show() -> None:
            for name in queues:
                print(f"{name:<16} {depths[name]} failed event(s)")
                for letter in letters[name]:
                    tries = f"{letter.attempts} attempt(s), {letter.condition}"
                    print(f"  {letter.failed_at}  {letter.message_id}  ({tries})")
                    print(f"    {escape(letter.error_type)}: {escape(letter.error_message)}")

        _emit(args, result, show)
        return
    # A redrive waits for each function's answer (up to its timeout) and never invokes twice on its own.
    functions = session.client(
        "lambda", config=Config(read_timeout=deadletters.REDRIVE_VISIBILITY_SECONDS, retries={"total_max_attempts": 1})
    )
    outcomes = [
        outcome
        for name, url in queues.items()
        for outcome in deadletters.redrive(sqs, functions, name, url, args.limit)
    ]
    failed = [outcome for outcome in outcomes if not outcome.succeeded]

    def show_redrive() -> None:
        for outcome in outcomes:
            verdict = "redriven" if outcome.succeeded else f"failed again, kept: {outcome.error}"
            print(f"{outcome.letter.queue:<16} {outcome.letter.message_id}  {escape(verdict)}")
        print(f"{len(outcomes) - len(failed)} redriven, {len(failed)} kept")

    _emit(
        args,
        {"redriven": len(outcomes) - len(failed), "kept": len(failed), "outcomes": [o.as_dict() for o in outcomes]},
        show_redrive,
    )
    if failed:
        sys.exit(1)


def cmd_openapi(args: argparse.Namespace) -> None:
    from reelstack.api.openapi import document

    print(json.dumps(document(), indent=2, ensure_ascii=False))


# -- entry point ---------------------------------------------------------------------------------


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

    local = command(commands, "local", help="the local cloud (LocalStack in host mode, no Docker)")
    local.add_argument("action", choices=["start", "stop", "status"])
    local.add_argument("--clean", action="store_true", help="with stop: also delete the local cloud's state")
    local.set_defaults(run=cmd_local)

    deploy = command(commands, "deploy", help="build and deploy template.yaml")
    deploy.add_argument("--target", choices=["local", "aws"], default="local")
    deploy.add_argument("--stack", help="stack name (default: $REELSTACK_STACK or reelstack-dev)")
    deploy.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter override (repeatable)"
    )
    deploy.set_defaults(run=cmd_deploy)

    outputs = command(commands, "outputs", help="the deployed stack's outputs")
    outputs.set_defaults(run=cmd_outputs)
    demo = command(commands, "demo", help="run the deployed pipeline once and show the outcome")
    demo.set_defaults(run=cmd_demo)

    def api_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--user", help="development user the token is made for (default $REELSTACK_USER or dev)")
        command.add_argument("--token", help="bearer token to use instead (default $REELSTACK_TOKEN)")
        command.add_argument("--api-url", help="API base URL (default $REELSTACK_API_URL or the local stack's)")

    token = command(commands, "token", help="print a development JWT for the local cloud's API")
    token.add_argument("--user", help="the token's sub (owner id); default $REELSTACK_USER or dev")
    token.add_argument("--seconds", type=int, default=DEV_TOKEN_SECONDS, help="lifetime")
    token.set_defaults(run=cmd_token)

    upload = command(commands, "upload", help="upload a video the way the apps do (presigned multipart)")
    upload.add_argument("file")
    upload.add_argument("--title")
    upload.add_argument("--content-type", help="declared media type (default: from the file name)")
    upload.add_argument("--parallel", type=int, default=4, help="parts in flight at once (default 4)")
    upload.add_argument("--no-checksum", action="store_true", help="do not sign each part's SHA-256 into its URL")
    upload.add_argument("--max-rate", help="cap the upload rate, bytes per second (e.g. 2M, 500k)")
    choice = upload.add_mutually_exclusive_group()
    choice.add_argument("--resume", action="store_true", help="only resume an unfinished upload of this file")
    choice.add_argument("--new", action="store_true", help="start a new upload even if one could be resumed")
    upload.add_argument("--wait", action="store_true", help="return when the asset is ready or failed")
    upload.add_argument("--timeout", type=float, default=900, help="with --wait: seconds to wait at most")
    api_options(upload)
    upload.set_defaults(run=cmd_upload)

    wait = command(commands, "wait", help="wait until an asset is ready or failed")
    wait.add_argument("asset_id")
    wait.add_argument("--timeout", type=float, default=900)
    api_options(wait)
    wait.set_defaults(run=cmd_wait)

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

    dlq = command(
        commands,
        "dlq",
        help="events the asynchronous functions failed on: list them, run them again",
        description="Each asynchronously invoked function (ingest, notify, executionEnded, uploadSweeper, "
        "outboxSweeper) sends the events its retries could not handle to a dead-letter queue of its own. "
        "`list` shows them and leaves them there; `redrive` runs each one's function again with its original "
        "event and deletes it only when that run succeeded (exit status 1 if any failed again).",
    )
    dlq.add_argument("action", choices=["list", "redrive"])
    dlq.add_argument("--queue", help="only this queue (ingest, notify, executionEnded, uploadSweeper, outboxSweeper)")
    dlq.add_argument("--limit", type=int, help="at most this many events per queue")
    dlq.add_argument("--target", choices=["local", "aws"], default="local")
    dlq.add_argument("--stack", help="with --target aws: the stack's name (default reelstack)")
    dlq.set_defaults(run=cmd_dlq)
    webhooks = command(commands, "webhooks", help="webhooks for your events")
    webhooks_actions = webhooks.add_subparsers(dest="action", required=True)
    listen = command(
        webhooks_actions,
        "listen",
        help="receive your events here: verify and print each delivery (like `stripe listen`)",
        description="Registers a webhook endpoint on this machine (http://127.0.0.1:PORT/, allowed by the local "
        "cloud's AllowLoopbackUrls switch), verifies every delivery's Standard Webhooks signature on the raw "
        "body, prints it, and deletes the endpoint when stopped.",
    )
    listen.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    listen.add_argument("--events", nargs="+", metavar="TYPE", help="only these event types (default: all)")
    listen.add_argument("--secret", help="verify with this secret and register nothing (an endpoint made elsewhere)")
    listen.add_argument("--quiet", action="store_true", help="one line per delivery, without the event's body")
    api_options(listen)
    listen.set_defaults(run=cmd_webhooks_listen)

    assets = command(commands, "assets", help="your assets")
    assets_actions = assets.add_subparsers(dest="action", required=True)
    listing = command(assets_actions, "list", help="your assets, newest first")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--cursor")
    get = command(assets_actions, "get", help="one asset")
    get.add_argument("asset_id")
    get.add_argument("--graph", action="store_true", help="also draw its pipeline execution, state by state")
    update = command(assets_actions, "update", help="change title, description, tags or visibility")
    update.add_argument("asset_id")
    update.add_argument("--title")
    update.add_argument("--description")
    update.add_argument("--visibility", choices=["private", "public"])
    update.add_argument("--tag", action="append", help="repeat for several; replaces the tags")
    delete = command(assets_actions, "delete", help="delete the asset and every object it owns")
    delete.add_argument("asset_id")
    for command in (listing, get, update, delete):
        api_options(command)
        command.set_defaults(run=cmd_assets)

    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (
        CommandError,
        LocalCloudError,
        DeployError,
        BuildError,
        UploadError,
        AssetTimeout,
        ApiError,
        InvokeError,
    ) as error:
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
