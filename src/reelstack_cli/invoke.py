"""``reelstack invoke``: what ``sam local invoke`` does, without Docker, on the local cloud.

The function is the deployed one (its layers, environment, memory and timeout are the template's, as
deployed), run by the local cloud's Lambda (LocalStack's process executor: a local process, no
container). Before it runs, ``reelstack deploy`` builds and uploads what changed (an unchanged
function is neither rebuilt nor uploaded). ``--env`` overrides variables for this one invocation and
puts the function's own back afterwards, as ``sam local invoke --env-vars`` leaves nothing behind.
The log printed is its last 4 KB (Lambda's ``LogType=Tail``); all of it is in CloudWatch Logs
(``/aws/lambda/<function name>``) and in the local cloud's ``lambda/logs/`` folder.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from reelstack_cli.clients import local_session
from reelstack_cli.settings import TEMPLATE, Settings
from reelstack_cli.template import load_template, resources_of_type


class InvokeError(RuntimeError):
    """The invocation could not be made (not the function's own error: that is its result)."""


@dataclass(frozen=True)
class Invocation:
    function: str  # the template's logical id
    result: Any  # what the handler returned, or ``{errorType, errorMessage}`` when it raised
    failed: bool
    logs: str  # the end of the function's log: LogType=Tail gives its last 4 KB
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "failed": self.failed, "result": self.result, "seconds": self.seconds}


def function_ids(template: dict[str, Any]) -> dict[str, str]:
    """Every name a function answers to -> its logical id: the id itself, and its folder under functions/."""
    names = {}
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        names[logical_id] = logical_id
        folder = Path(str(resource.get("Properties", {}).get("CodeUri", ""))).name
        if folder:
            names[folder] = logical_id
    return names


def resolve(name: str, template: dict[str, Any] | None = None) -> str:
    """``PlanFunction``, ``plan`` or ``Plan`` -> ``PlanFunction``; an unknown name is refused with the list."""
    names = function_ids(template or load_template(TEMPLATE))
    for candidate in (name, f"{name}Function"):
        if candidate in names:
            return names[candidate]
    known = ", ".join(sorted({*names.values()}))
    raise InvokeError(f"template.yaml has no function {name!r}; its functions are: {known}")


def read_event(source: str | None, stdin: Callable[[], str]) -> dict[str, Any]:
    """The event from a file, from stdin (``-``), or ``{}`` (what ``sam local invoke`` sends without -e)."""
    if source is None:
        return {}
    try:
        text = stdin() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise InvokeError(
            f"cannot read the event {source}: {error.strerror}; give a file under events/ or -"
        ) from error
    try:
        event = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvokeError(f"the event {source} is not JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(event, dict):
        raise InvokeError(f"the event {source} is a JSON {type(event).__name__}, not an object")
    return event


def is_api_event(event: dict[str, Any]) -> bool:
    return "httpMethod" in event and "requestContext" in event


def signed_as(event: dict[str, Any], token: str) -> dict[str, Any]:
    """An API Gateway event with ``token`` as its bearer token (headers and multi-value headers alike)."""
    if not is_api_event(event):
        raise InvokeError("--user signs API Gateway events only (events/api/*.json); this event has no httpMethod")
    headers = {key: value for key, value in (event.get("headers") or {}).items() if key.lower() != "authorization"}
    headers["Authorization"] = f"Bearer {token}"
    signed = {**event, "headers": headers}
    if event.get("multiValueHeaders") is not None:
        multi = {k: v for k, v in event["multiValueHeaders"].items() if k.lower() != "authorization"}
        signed["multiValueHeaders"] = {**multi, "Authorization": [headers["Authorization"]]}
    return signed


def physical_name(settings: Settings, logical_id: str) -> str:
    cfn = local_session(settings).client("cloudformation")
    try:
        found = cfn.describe_stack_resource(StackName=settings.stack_name, LogicalResourceId=logical_id)
    except ClientError as error:
        raise InvokeError(
            f"{logical_id} is not deployed in stack {settings.stack_name}: run `reelstack deploy` first"
        ) from error
    return found["StackResourceDetail"]["PhysicalResourceId"]


def invoke(settings: Settings, logical_id: str, event: dict[str, Any], env: dict[str, str]) -> Invocation:
    """Run the deployed function once with ``event`` (and ``env`` over its own variables, for this call)."""
    name = physical_name(settings, logical_id)
    control = local_session(settings).client("lambda")
    configuration = control.get_function_configuration(FunctionName=name)
    # The call waits for the function: give it the function's whole timeout, and some to start; and
    # never send it twice (a retried read would run the function again).
    client = local_session(settings).client(
        "lambda", config=Config(read_timeout=configuration["Timeout"] + 60, retries={"total_max_attempts": 1})
    )
    own = (configuration.get("Environment") or {}).get("Variables") or {}
    started = time.monotonic()
    try:
        if env:  # for this call: whatever else invokes the function meanwhile (the pipeline) gets it too
            set_environment(control, name, {**own, **env})
        answer = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    finally:
        if env:
            try:
                set_environment(control, name, own)
            except Exception as error:  # noqa: BLE001 - say so, and let the invocation's own outcome stand
                print(
                    f"could not put {logical_id}'s environment back ({error}): run `reelstack deploy`", file=sys.stderr
                )
    seconds = round(time.monotonic() - started, 3)
    body = answer["Payload"].read().decode() or "null"
    try:
        result = json.loads(body)
    except json.JSONDecodeError:
        result = body
    logs = base64.b64decode(answer.get("LogResult") or "").decode(errors="replace")
    return Invocation(logical_id, result, "FunctionError" in answer, logs, seconds)


def set_environment(control: Any, name: str, variables: dict[str, str]) -> None:
    """A deployed function's whole environment (``control`` its Lambda client), once it has taken effect."""
    control.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    control.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
