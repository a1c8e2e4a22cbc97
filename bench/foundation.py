"""The foundation's costs on the local cloud: start, deploy, and Lambda/Step Functions latency.

Each round starts a fresh local cloud (own folder and port), deploys template.yaml, then measures a
first ("cold") and later ("warm") Lambda invocation. Cold runs are the baseline for warm
ones, measured side by side in the same round. Medians of ROUNDS rounds; raw timings are kept.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any

from bench.common import cli, cloud_settings, median, timed, write_results
from reelstack_cli.clients import local_session

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARM_REPEATS = 5


def one_round() -> dict[str, float | list[float]]:
    settings, env = cloud_settings("bench-foundation-cloud")  # never the cloud other suites share
    cli(env, "local", "stop", "--clean")
    try:
        start = timed(lambda: cli(env, "local", "start"))
        deploy = timed(lambda: cli(env, "deploy"))
        deploy_unchanged = timed(lambda: cli(env, "deploy"))
        session = local_session(settings)
        function = session.client("cloudformation").describe_stack_resource(
            StackName=settings.stack_name, LogicalResourceId="ToolchainCheckFunction"
        )["StackResourceDetail"]["PhysicalResourceId"]
        lam = session.client("lambda")

        def invoke() -> None:
            lam.invoke(FunctionName=function, Payload=json.dumps({"assetId": uuid.uuid4().hex}).encode())

        invoke_cold = timed(invoke)
        invoke_warm = [timed(invoke) for _ in range(WARM_REPEATS)]
        return {
            "startSeconds": start,
            "deploySeconds": deploy,
            "deployUnchangedSeconds": deploy_unchanged,
            "invokeColdSeconds": invoke_cold,
            "invokeWarmSeconds": invoke_warm,
        }
    finally:
        cli(env, "local", "stop", "--clean")


def run() -> dict[str, Any]:
    rounds = []
    for number in range(1, ROUNDS + 1):
        print(f"foundation round {number}/{ROUNDS} ...", file=sys.stderr, flush=True)
        rounds.append(one_round())

    def middle(key: str) -> float:
        return median([median(r[key]) if isinstance(r[key], list) else r[key] for r in rounds])

    summary = {key: round(middle(key), 3) for key in rounds[0]}
    summary["coldOverWarmInvoke"] = round(summary["invokeColdSeconds"] / summary["invokeWarmSeconds"], 1)
    summary["deployOverUnchangedDeploy"] = round(summary["deploySeconds"] / summary["deployUnchangedSeconds"], 1)
    return write_results("foundation", summary, rounds, rounds=ROUNDS)


def report(record: dict[str, Any]) -> None:
    summary = record["median"]
    width = max(map(len, summary))
    print(f"foundation, medians of {record['rounds']} rounds")
    for key, value in summary.items():
        print(f"  {key:<{width}}  {value}")


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    row = record["median"]
    return [
        (
            "Local cloud: start, deploy",
            f"start {row['startSeconds']} s, deploy {row['deploySeconds']} s",
            f"deploy without changes {row['deployUnchangedSeconds']} s",
            f"{row['deployOverUnchangedDeploy']}x",
        ),
        (
            "Lambda invoke on the local cloud",
            f"cold {row['invokeColdSeconds']} s",
            f"warm {row['invokeWarmSeconds']} s",
            f"{row['coldOverWarmInvoke']}x",
        ),
    ]
