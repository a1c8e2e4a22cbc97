"""Step Functions behaves as AWS's does where LocalStack 2026.3.0 differs in ways the pipeline meets.

1. A failed call to Lambda is named the way AWS names it.

When the SDK client that Step Functions invokes a function with fails before an answer comes back
(the connection closed or refused, a socket timeout), AWS reports ``Lambda.SdkClientException``, a
transient error the state machine retries by name. LocalStack 2026.3.0 invokes with retries off
and reports any such failure as the bare error ``Exception``, which no Retry names, so one closed
connection on a busy local cloud failed a whole asset ("processing failed unexpectedly"; seen in a
fresh clone's test run). The hook below gives those failures AWS's name; everything else (the
function's own errors, timeouts, throttling) is reported as before.

2. A stopped execution stays stopped. AWS ends an execution that ``StopExecution`` reached ABORTED,
whatever its states were doing. LocalStack marks it stopped, lets the task in flight return, and
then lets a later error overwrite the mark: an inline Map stopped mid-iteration raises an internal
``AttributeError`` (its abort carries no error details), the error climbs through the enclosing
Parallel, and the execution ends FAILED. The asset then failed as "processing failed unexpectedly"
instead of "processing was stopped before it finished" (seen once derivatives ran as a Map beside
the ladder). The hook below keeps the first end an execution reached when it was a stop.

3. A JSONPath is parsed once. LocalStack 2026.3.0 parses each path again every time a state evaluates
it (``InputPath``, ``ResultPath``, each ``.$`` of ``Parameters`` and ``ItemSelector``, per Map item),
and jsonpath-ng builds a new LALR parser for every parse: 12-36 ms of CPU each time, the largest part
of the local cloud's own CPU while a pipeline runs. A parsed path is an immutable expression, so the
hook below keeps each one (AWS's interpreter has no such cost; behaviour is unchanged).

4. A state machine's definition is read once. Every execution lexed and parsed the whole definition
again (0.2-0.3 s of CPU for the pipeline's); the syntax tree is now kept per definition and only
turned into the execution's own states (LocalStack's preprocessor) each time, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from botocore.exceptions import ConnectionError as SdkConnectionError
from botocore.exceptions import HTTPClientError
from localstack.aws.api.stepfunctions import HistoryEventType, LambdaFunctionFailedEventDetails
from localstack.runtime import hooks
from localstack.services.stepfunctions.asl.component.common.error_name.custom_error_name import CustomErrorName
from localstack.services.stepfunctions.asl.component.common.error_name.failure_event import FailureEvent
from localstack.services.stepfunctions.asl.component.common.path import result_path
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.state_task_lambda import (
    StateTaskLambda,
)
from localstack.services.stepfunctions.asl.eval.environment import Environment
from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails
from localstack.services.stepfunctions.asl.eval.program_state import ProgramStopped
from localstack.services.stepfunctions.asl.parse.asl_parser import AmazonStateLanguageParser
from localstack.services.stepfunctions.asl.parse.preprocessor import Preprocessor
from localstack.services.stepfunctions.asl.utils import json_path
from localstack.utils.patch import Patch

SDK_CLIENT_ERROR = "Lambda.SdkClientException"


def lambda_failure(original: Any, task: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
    """The SDK's own failures (no answer from Lambda) -> ``Lambda.SdkClientException``. (The names
    are LocalStack's: it calls ``_from_error(env=..., ex=...)``.)"""
    if not isinstance(ex, HTTPClientError | SdkConnectionError):
        return original(task, env=env, ex=ex)
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(SDK_CLIENT_ERROR),
        event_type=HistoryEventType.LambdaFunctionFailed,
        event_details=EventDetails(
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=SDK_CLIENT_ERROR, cause=str(ex))
        ),
    )


def error_unless_stopped(original: Any, env: Environment, error: Any) -> None:
    """An error reported after the execution (or this frame of it) was stopped is the stop's
    aftermath, not a failure."""
    if isinstance(env.program_state(), ProgramStopped):
        return None
    return original(env, error=error)


@hooks.on_infra_start()
def name_lambda_sdk_failures_as_aws_does() -> None:
    Patch.function(StateTaskLambda._from_error, lambda_failure).apply()


@hooks.on_infra_start()
def keep_stopped_executions_stopped() -> None:
    Patch.function(Environment.set_error, error_unless_stopped).apply()


# A state machine names a few hundred distinct paths at most; the cache bounds memory all the same.
PARSED_PATHS_KEPT = 4096


def parsed_once(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return lru_cache(maxsize=PARSED_PATHS_KEPT)(parse)


@hooks.on_infra_start()
def parse_each_json_path_once() -> None:
    # Both modules imported ``parse`` by name (the extended parser for reads, the plain one for ResultPath).
    json_path.parse = parsed_once(json_path.parse)
    result_path.parse = parsed_once(result_path.parse)


# Syntax trees kept, by definition: a few state machines, each updated now and then by a deploy.
DEFINITIONS_KEPT = 32


def each_definition_read_once(parse: Callable[[str], tuple[Any, Any]]) -> Callable[[str], tuple[Any, Any]]:
    """``parse`` (definition -> (program, syntax tree)) that lexes and parses a definition once; each
    call still gets a program of its own, made from the kept tree. A definition with syntax errors
    raises each time, as before (nothing is kept)."""

    @lru_cache(maxsize=DEFINITIONS_KEPT)
    def syntax_tree(definition: str) -> Any:
        return parse(definition)[1]

    def parse_once(definition: str) -> tuple[Any, Any]:
        tree = syntax_tree(definition)
        return Preprocessor().visit(tree), tree

    return parse_once


@hooks.on_infra_start()
def read_each_definition_once() -> None:
    AmazonStateLanguageParser.parse = staticmethod(each_definition_read_once(AmazonStateLanguageParser.parse))
