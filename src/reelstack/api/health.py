"""``GET /health``: is what the API depends on answering, and how fast; and has anything been lost
on the way (a dead-letter queue that holds failed events makes the API ``degraded``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reelstack import aws, deadletters
from reelstack.config import deployment

# Without these the API cannot take uploads at all; the others only degrade it.
ESSENTIAL = frozenset({"assetsTable", "uploadsTable", "uploadBucket"})


@dataclass(frozen=True)
class Finding:
    """What a check that measures something found, beyond answering (a queue's depth)."""

    status: str  # "ok" or "degraded"
    fields: dict[str, Any]


def _dead_letters(queue: str, url: str) -> Finding:
    depth = deadletters.depth(aws.client("sqs"), url)
    if not depth:
        return Finding("ok", {"depth": 0})
    return Finding(
        "degraded",
        {"depth": depth, "error": f"{depth} failed event(s) of {queue} wait here: `reelstack dlq list`, then redrive"},
    )


def _checks() -> dict[str, Callable[[], object]]:
    config = deployment()
    dynamodb, s3 = aws.client("dynamodb"), aws.client("s3")
    checks: dict[str, Callable[[], object]] = {
        "assetsTable": lambda: dynamodb.describe_table(TableName=config.assets_table),
        "uploadsTable": lambda: dynamodb.describe_table(TableName=config.uploads_table),
        "uploadBucket": lambda: s3.head_bucket(Bucket=config.upload_bucket),
        "mediaBucket": lambda: s3.head_bucket(Bucket=config.media_bucket),
        "eventsTopic": lambda: aws.client("sns").get_topic_attributes(TopicArn=config.events_topic_arn),
    }
    machine = config.state_machine_arn
    if machine:
        checks["stateMachine"] = lambda: aws.client("stepfunctions").describe_state_machine(stateMachineArn=machine)
    for queue, url in config.dead_letter_queues.items():
        checks[f"{queue}DeadLetters"] = lambda queue=queue, url=url: _dead_letters(queue, url)
    return checks


def _run(check: Callable[[], object]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        outcome = check()
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        return {
            "status": "down",
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
            "error": f"{type(error).__name__}: {str(error)[:200]}",
        }
    latency = round((time.perf_counter() - started) * 1000, 1)
    if isinstance(outcome, Finding):
        return {"status": outcome.status, "latencyMs": latency, **outcome.fields}
    return {"status": "ok", "latencyMs": latency}


def health() -> dict[str, Any]:
    checks = _checks()
    with ThreadPoolExecutor(len(checks)) as pool:
        results = dict(zip(checks, pool.map(_run, checks.values()), strict=True))
    failing = {name for name, result in results.items() if result["status"] != "ok"}
    status = "down" if failing & ESSENTIAL else "degraded" if failing else "ok"
    return {"status": status, "checks": results}
