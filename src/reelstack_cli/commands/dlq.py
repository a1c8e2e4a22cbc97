"""``reelstack dlq list|redrive``: events the asynchronous functions failed on."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from reelstack_cli.commands.common import (
    CommandError,
    emit,
    require_cloud,
)
from reelstack_cli.deploy import local_outputs
from reelstack_cli.settings import settings


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
        require_cloud(config)
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

        emit(args, result, show)
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

    emit(
        args,
        {"redriven": len(outcomes) - len(failed), "kept": len(failed), "outcomes": [o.as_dict() for o in outcomes]},
        show_redrive,
    )
    if failed:
        sys.exit(1)


def register(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
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
