"""``reelstack token``, ``upload``, ``wait`` and ``assets``: the API as a client uses it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress

from reelstack.api.auth import DEV_TOKEN_SECONDS, issue_dev_token
from reelstack_cli.commands.common import (
    CommandError,
    api_client,
    api_options,
    emit,
    progress,
    progress_console,
    user,
)
from reelstack_cli.deploy import dev_secret
from reelstack_cli.settings import settings
from reelstack_cli.uploader import Uploader, describe_progress, wait_for_asset
from reelstack_draw.diagram import render_text


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
    token = issue_dev_token(dev_secret(settings(), create=False), user(args), seconds=args.seconds)
    emit(args, {"token": token, "user": user(args), "expiresInSeconds": args.seconds}, lambda: print(token))


def cmd_upload(args: argparse.Namespace) -> None:
    api = api_client(args)
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
    emit(
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
    report = progress(time.monotonic())
    return lambda asset: report(describe_progress(asset))


def cmd_wait(args: argparse.Namespace) -> None:
    asset = wait_for_asset(api_client(args), args.asset_id, args.timeout, _asset_progress())
    emit(args, asset, lambda: print(json.dumps(asset, indent=2)))
    if asset["status"] != "ready":
        sys.exit(1)


def cmd_assets(args: argparse.Namespace) -> None:
    api = api_client(args)
    if args.action == "list":
        query = f"/assets?limit={args.limit}" + (f"&cursor={args.cursor}" if args.cursor else "")
        page = api.get(query)

        def show_page() -> None:
            for item in page["items"]:
                print(f"{item['assetId']}  {item['status']:<10} {item['createdAt']}  {item['title']}")
            if page["nextCursor"]:
                print(f"more: reelstack assets list --cursor {page['nextCursor']}")

        emit(args, page, show_page)
    elif args.action == "get":
        asset = api.get(f"/assets/{args.asset_id}")
        if args.graph:
            report = api.get(f"/assets/{args.asset_id}/execution")
            asset["pipeline"] = report
        emit(args, asset, lambda: _show_asset(asset))
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
        emit(args, asset, lambda: print(json.dumps(asset, indent=2)))
    else:
        api.delete(f"/assets/{args.asset_id}")
        emit(args, {"deleted": args.asset_id}, lambda: print(f"deleted {args.asset_id}"))


def _show_asset(asset: dict[str, Any]) -> None:
    report = asset.pop("pipeline", None)
    print(json.dumps(asset, indent=2))
    if report:
        print(f"\npipeline: execution {report['executionStatus']}")
        print(render_text(report["states"]))


def register(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
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
