"""``reelstack webhooks listen``: a verifying receiver of your events on this machine."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from reelstack_cli.commands.common import (
    api_client,
    api_options,
    progress_console,
)
from reelstack_cli.webhooks import Delivery, Receiver


def cmd_webhooks_listen(args: argparse.Namespace) -> None:
    """Register an endpoint on this machine, print what it receives (verified), delete it at the end."""
    api = None if args.secret else api_client(args)

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


def register(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
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
