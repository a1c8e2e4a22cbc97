"""Step Functions names a failed call to Lambda the way AWS does.

When the SDK client that Step Functions invokes a function with fails before an answer comes back
(the connection closed or refused, a socket timeout), AWS reports ``Lambda.SdkClientException``, a
transient error the state machine retries by name. LocalStack 2026.3.0 invokes with retries off
and reports any such failure as the bare error ``Exception``, which no Retry names, so one closed
connection on a busy local cloud failed a whole asset ("processing failed unexpectedly"; seen in a
fresh clone's test run). The hook below gives those failures AWS's name; everything else (the
function's own errors, timeouts, throttling) is reported as before.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ConnectionError as SdkConnectionError
from botocore.exceptions import HTTPClientError
from localstack.aws.api.stepfunctions import HistoryEventType, LambdaFunctionFailedEventDetails
from localstack.runtime import hooks
from localstack.services.stepfunctions.asl.component.common.error_name.custom_error_name import CustomErrorName
from localstack.services.stepfunctions.asl.component.common.error_name.failure_event import FailureEvent
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.state_task_lambda import (
    StateTaskLambda,
)
from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails
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


@hooks.on_infra_start()
def name_lambda_sdk_failures_as_aws_does() -> None:
    Patch.function(StateTaskLambda._from_error, lambda_failure).apply()
