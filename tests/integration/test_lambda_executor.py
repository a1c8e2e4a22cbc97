"""The local cloud's Lambda executor keeps Lambda's promises: limits, errors, layers, isolation.

Each test creates small functions through the Lambda API, so the executor is tested on its own.
"""

from __future__ import annotations

import io
import json
import subprocess
import textwrap
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reelstack_cli.settings import LOCALSTACK_PYTHON
from tests.integration.conftest import Stack

ROLE = "arn:aws:iam::000000000000:role/lambda-test"


def _zip(files: dict[str, str], executable: frozenset[str] = frozenset()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((0o755 if name in executable else 0o644) | 0o100000) << 16
            archive.writestr(info, textwrap.dedent(content))
    return buffer.getvalue()


@pytest.fixture
def make_function(stack: Stack) -> Any:
    lambda_client = stack.client("lambda")
    created: list[str] = []

    def make(code: str, layers: list[str] | None = None, **config: Any) -> str:
        name = f"exec-test-{uuid.uuid4().hex[:8]}"
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": _zip({"app.py": code})},
            Layers=layers or [],
            **config,
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        created.append(name)
        return name

    yield make
    for name in created:
        lambda_client.delete_function(FunctionName=name)


def _invoke(stack: Stack, name: str, event: Any = None) -> tuple[str | None, Any]:
    response = stack.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_a_function_that_runs_past_its_timeout_is_stopped_and_the_next_invoke_works(stack: Stack, make_function):
    name = make_function(
        """
        import time
        def handler(event, context):
            time.sleep(event.get("sleep", 0))
            return {"remaining": context.get_remaining_time_in_millis()}
        """,
        Timeout=1,
    )
    error, payload = _invoke(stack, name, {"sleep": 5})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    error, payload = _invoke(stack, name, {})
    assert error is None and 0 < payload["remaining"] <= 1000


def test_a_function_over_its_memory_size_is_killed_with_out_of_memory(stack: Stack, make_function):
    name = make_function(
        """
        import time
        def handler(event, context):
            hoard = bytearray(400 * 1024 * 1024)
            for offset in range(0, len(hoard), 4096):
                hoard[offset] = 1  # touch every page so it is really resident
            time.sleep(2)
            return len(hoard)
        """,
        MemorySize=128,
        Timeout=20,
    )
    error, payload = _invoke(stack, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.OutOfMemory"


def test_a_crashing_function_reports_exit_error_and_gets_a_fresh_process(stack: Stack, make_function):
    name = make_function(
        """
        import os
        def handler(event, context):
            if event.get("crash"):
                os._exit(3)
            return os.getpid()
        """
    )
    _, first_pid = _invoke(stack, name)
    error, payload = _invoke(stack, name, {"crash": True})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError" and "exit status 3" in payload["errorMessage"]
    error, second_pid = _invoke(stack, name)
    assert error is None and second_pid != first_pid


def test_handler_exceptions_come_back_by_name_with_the_functions_stack_trace(stack: Stack, make_function):
    name = make_function(
        """
        class UnsupportedMedia(Exception):
            pass
        def handler(event, context):
            raise UnsupportedMedia("not a video")
        """
    )
    error, payload = _invoke(stack, name)
    assert error == "Unhandled"
    assert payload["errorType"] == "UnsupportedMedia" and payload["errorMessage"] == "not a video"
    assert "app.py" in payload["stackTrace"][0] and "bootstrap" not in "".join(payload["stackTrace"])


def test_an_import_error_fails_init_like_lambda(stack: Stack, make_function):
    lambda_client = stack.client("lambda")
    name = make_function("import a_module_that_is_nowhere\ndef handler(event, context):\n    return 1\n")
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert response.get("FunctionError")
    assert "a_module_that_is_nowhere" in response["Payload"].read().decode()


def test_the_runtime_has_boto3_and_nothing_the_package_did_not_bring(stack: Stack, make_function):
    name = make_function(
        """
        import importlib.util, sys
        def handler(event, context):
            return {
                name: importlib.util.find_spec(name) is not None
                for name in ["boto3", "botocore", "yaml", "pynamodb", "aws_lambda_powertools", "localstack", "pytest"]
            } | {"python": sys.version.split()[0]}
        """
    )
    error, found = _invoke(stack, name)
    assert error is None
    assert found.pop("python").startswith("3.13.")
    assert found == {
        "boto3": True,
        "botocore": True,
        "yaml": False,
        "pynamodb": False,
        "aws_lambda_powertools": False,
        "localstack": False,
        "pytest": False,
    }


def test_layers_are_applied_in_order_with_bin_on_path_and_python_importable(stack: Stack, make_function):
    lambda_client = stack.client("lambda")
    first = lambda_client.publish_layer_version(
        LayerName=f"first-{uuid.uuid4().hex[:6]}",
        Content={
            "ZipFile": _zip(
                {
                    "bin/greet": "#!/bin/sh\necho first\n",
                    "python/shared.py": "WHO = 'first'\n",
                    "python/only_first.py": "X = 1\n",
                },
                executable=frozenset({"bin/greet"}),
            )
        },
    )["LayerVersionArn"]
    second = lambda_client.publish_layer_version(
        LayerName=f"second-{uuid.uuid4().hex[:6]}",
        Content={
            "ZipFile": _zip(
                {"bin/greet": "#!/bin/sh\necho second\n", "python/shared.py": "WHO = 'second'\n"},
                executable=frozenset({"bin/greet"}),
            )
        },
    )["LayerVersionArn"]
    name = make_function(
        """
        import subprocess, shared, only_first
        def handler(event, context):
            return {"bin": subprocess.run(["greet"], capture_output=True, text=True).stdout.strip(),
                    "python": shared.WHO, "first_only": only_first.X}
        """,
        layers=[first, second],
    )
    error, payload = _invoke(stack, name)
    assert error is None
    assert payload == {"bin": "second", "python": "second", "first_only": 1}  # later layers win, as on AWS


def test_environment_and_private_tmp_are_per_function(stack: Stack, make_function):
    code = """
        import os, tempfile
        def handler(event, context):
            marker = os.path.join(tempfile.gettempdir(), "marker")
            existed = os.path.exists(marker)
            open(marker, "w").write("x")
            return {"colour": os.environ.get("COLOUR"), "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
                    "existed": existed, "tmp": tempfile.gettempdir(),
                    "secret": os.environ.get("REELSTACK_LAMBDA_PYTHON")}
        """
    red = make_function(code, Environment={"Variables": {"COLOUR": "red"}}, MemorySize=256)
    blue = make_function(code, Environment={"Variables": {"COLOUR": "blue"}})
    _, red_first = _invoke(stack, red)
    _, red_again = _invoke(stack, red)
    _, blue_first = _invoke(stack, blue)
    assert (red_first["colour"], red_first["memory"], blue_first["colour"]) == ("red", "256", "blue")
    assert red_first["existed"] is False and red_again["existed"] is True  # /tmp survives warm invokes
    assert blue_first["existed"] is False and blue_first["tmp"] != red_first["tmp"]
    assert red_first["secret"] is None  # the local cloud's own settings do not leak into functions


def test_concurrent_invocations_run_in_separate_environments_at_once(stack: Stack, make_function):
    name = make_function(
        """
        import os, time
        def handler(event, context):
            started = time.time()
            time.sleep(1.5)
            return {"pid": os.getpid(), "start": started, "end": time.time()}
        """,
        Timeout=30,
    )
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = [payload for _, payload in pool.map(lambda _: _invoke(stack, name), range(3))]
    assert len({result["pid"] for result in results}) == 3
    latest_start = max(result["start"] for result in results)
    earliest_end = min(result["end"] for result in results)
    assert latest_start < earliest_end  # all three were running at the same moment


# Runs in LocalStack's own interpreter: the Step Functions task that invokes a function, with the
# local cloud's start hooks applied as LocalStack applies them.
_TASK_FAILURES = """
import json
from importlib.metadata import entry_points
from types import SimpleNamespace

from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import lambda_eval_utils
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.state_task_lambda import (
    StateTaskLambda,
)

for hook in entry_points(group="localstack.hooks.on_infra_start"):
    if hook.value.startswith("reelstack_localcloud."):
        hook.load()()
env = SimpleNamespace(next_state_name="Make thumbnails", event_history_context=SimpleNamespace(source_event_id=7))
task = StateTaskLambda.__new__(StateTaskLambda)
failures = {
    "closed": ConnectionClosedError(endpoint_url="http://localhost:4566/"),
    "refused": EndpointConnectionError(endpoint_url="http://localhost:4566/"),
    "handler": lambda_eval_utils.LambdaFunctionErrorException(
        "Unhandled", json.dumps({"errorType": "ToolchainFailed", "errorMessage": "ffmpeg exited 1"})
    ),
}
# Called as LocalStack's state machine interpreter calls it (execute_state.py), by keyword.
names = {key: task._from_error(env=env, ex=error).error_name.error_name for key, error in failures.items()}
print(json.dumps(names))
"""


def test_step_functions_names_a_call_to_lambda_that_got_no_answer_as_aws_does() -> None:
    """A closed connection between Step Functions and Lambda is the transient
    ``Lambda.SdkClientException`` every Task retries, not LocalStack's bare ``Exception``, which once
    failed a fresh clone's asset; a function's own error keeps its name."""
    result = subprocess.run(
        [str(LOCALSTACK_PYTHON), "-c", _TASK_FAILURES], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout) == {
        "closed": "Lambda.SdkClientException",
        "refused": "Lambda.SdkClientException",
        "handler": "ToolchainFailed",
    }


_STOP_THEN_ERROR = """
import json
import threading
from datetime import UTC, datetime
from importlib.metadata import entry_points

from localstack.services.stepfunctions.asl.eval.environment import Environment
from localstack.services.stepfunctions.asl.eval.program_state import ProgramRunning

for hook in entry_points(group="localstack.hooks.on_infra_start"):
    if hook.value.startswith("reelstack_localcloud."):
        hook.load()()


def environment():
    env = Environment.__new__(Environment)
    env._state_mutex, env.program_state_event, env._frames = threading.RLock(), threading.Event(), []
    env._program_state = ProgramRunning()
    return env


ends = {}
running, stopped = environment(), environment()
# What an inline Map stopped mid-iteration does: the stop, then an internal error climbing out of it.
stopped.set_stop(stop_date=datetime.now(UTC), cause=None, error=None)
for name, env in {"running": running, "stopped": stopped}.items():
    env.set_error(error={"error": "States.Runtime", "cause": "'NoneType' object has no attribute 'get'"})
    ends[name] = type(env.program_state()).__name__
print(json.dumps(ends))
"""


def test_a_stopped_execution_stays_stopped_whatever_error_follows() -> None:
    """AWS ends a stopped execution ABORTED; LocalStack let the error a Map raises when stopped
    mid-iteration turn it FAILED (the asset then failed "unexpectedly" instead of "stopped")."""
    result = subprocess.run(
        [str(LOCALSTACK_PYTHON), "-c", _STOP_THEN_ERROR], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout) == {"running": "ProgramError", "stopped": "ProgramStopped"}
