"""``GET /health``: is what the API depends on answering, and how fast."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reelstack import aws
from reelstack.config import deployment

# Without these the API cannot take uploads at all; the others only degrade it.
ESSENTIAL = frozenset({"assetsTable", "uploadsTable", "uploadBucket"})


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
    return checks


def _run(check: Callable[[], object]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        return {
            "status": "down",
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
            "error": f"{type(error).__name__}: {str(error)[:200]}",
        }
    return {"status": "ok", "latencyMs": round((time.perf_counter() - started) * 1000, 1)}


def health() -> dict[str, Any]:
    checks = _checks()
    with ThreadPoolExecutor(len(checks)) as pool:
        results = dict(zip(checks, pool.map(_run, checks.values()), strict=True))
    failing = {name for name, result in results.items() if result["status"] != "ok"}
    status = "down" if failing & ESSENTIAL else "degraded" if failing else "ok"
    return {"status": status, "checks": results}
