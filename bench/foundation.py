"""The foundation's costs on the local cloud: start, deploy, and Lambda/Step Functions latency.

Each round starts a fresh local cloud (own folder and port), deploys template.yaml, then measures a
first ("cold") and later ("warm") invocation and execution. Cold runs are the baseline for warm
ones, measured side by side in the same round. Medians of ROUNDS rounds; raw timings are kept.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from reelstack_cli.clients import local_session
from reelstack_cli.demo import wait_for_execution
from reelstack_cli.settings import CHECKOUT, LOCAL_DIR, Settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARM_REPEATS = 5
RESULTS = CHECKOUT / "bench" / "results" / "foundation.json"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "reelstack_cli.main", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def one_round() -> dict[str, float | list[float]]:
    settings = Settings(LOCAL_DIR / "bench-cloud", _free_port(), "reelstack-bench")
    env = {
        **os.environ,
        "REELSTACK_CLOUD_DIR": str(settings.cloud_dir),
        "REELSTACK_LOCAL_PORT": str(settings.port),
        "REELSTACK_STACK": settings.stack_name,
    }
    _cli(env, "local", "stop", "--clean")
    try:
        start = _timed(lambda: _cli(env, "local", "start"))
        deploy = _timed(lambda: _cli(env, "deploy"))
        deploy_unchanged = _timed(lambda: _cli(env, "deploy"))
        session = local_session(settings)
        outputs = _cli(env, "outputs")
        function = session.client("cloudformation").describe_stack_resource(
            StackName=settings.stack_name, LogicalResourceId="ToolchainCheckFunction"
        )["StackResourceDetail"]["PhysicalResourceId"]
        lam, sfn = session.client("lambda"), session.client("stepfunctions")

        def invoke() -> None:
            lam.invoke(FunctionName=function, Payload=json.dumps({"assetId": uuid.uuid4().hex}).encode())

        def execute() -> None:
            arn = sfn.start_execution(
                stateMachineArn=outputs["stateMachineArn"], input=json.dumps({"assetId": uuid.uuid4().hex})
            )["executionArn"]
            assert wait_for_execution(sfn, arn, poll=0.02)["status"] == "SUCCEEDED"

        invoke_cold = _timed(invoke)
        invoke_warm = [_timed(invoke) for _ in range(WARM_REPEATS)]
        execution_warm = [_timed(execute) for _ in range(WARM_REPEATS)]
        return {
            "startSeconds": start,
            "deploySeconds": deploy,
            "deployUnchangedSeconds": deploy_unchanged,
            "invokeColdSeconds": invoke_cold,
            "invokeWarmSeconds": invoke_warm,
            "executionWarmSeconds": execution_warm,
        }
    finally:
        _cli(env, "local", "stop", "--clean")


def main() -> None:
    rounds = []
    for number in range(1, ROUNDS + 1):
        print(f"round {number}/{ROUNDS} ...", file=sys.stderr, flush=True)
        rounds.append(one_round())

    def median(key: str) -> float:
        values = [statistics.median(r[key]) if isinstance(r[key], list) else r[key] for r in rounds]
        return statistics.median(values)

    summary = {key: round(median(key), 3) for key in rounds[0]}
    summary["coldOverWarmInvoke"] = round(summary["invokeColdSeconds"] / summary["invokeWarmSeconds"], 1)
    summary["deployOverUnchangedDeploy"] = round(summary["deploySeconds"] / summary["deployUnchangedSeconds"], 1)
    record = {
        "date": datetime.now(UTC).date().isoformat(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "rounds": ROUNDS,
        "median": summary,
        "raw": rounds,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2))
    width = max(map(len, summary))
    print(f"foundation, medians of {ROUNDS} rounds ({record['date']}, {record['cores']} cores)")
    for key, value in summary.items():
        print(f"  {key:<{width}}  {value}")
    print(f"raw timings: {Path(RESULTS).relative_to(CHECKOUT)}")


if __name__ == "__main__":
    main()
