"""The wrapper every handler wears (reelstack.observability): tracing only when it is on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# A cold start as a function has it: import the wrapper, wrap a handler, call it once.
COLD_START = """
import json, sys
from reelstack.observability import lambda_handler

class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "f", 128, "arn", "r"

answer = lambda_handler(lambda event, context: {"got": event["assetId"]})({"assetId": "a1"}, Context())
print(json.dumps({"answer": answer, "xray": "aws_xray_sdk" in sys.modules}))
"""


@pytest.mark.parametrize(("disabled", "traced"), [("true", False), ("false", True)])
def test_the_xray_sdk_is_loaded_only_when_tracing_is_on(disabled: str, traced: bool) -> None:
    """Powertools' Tracer builds the X-Ray SDK's recorder even when tracing is off (a quarter of a
    second of every cold start); TracingEnabled=false (the default) now costs nothing."""
    environment = {**os.environ, "POWERTOOLS_TRACE_DISABLED": disabled, "POWERTOOLS_METRICS_NAMESPACE": "Unit"}
    result = subprocess.run([sys.executable, "-c", COLD_START], capture_output=True, text=True, env=environment,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found == {"answer": {"got": "a1"}, "xray": traced}
