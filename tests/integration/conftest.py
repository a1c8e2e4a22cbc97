"""Integration tests run against a local cloud started fresh for the session (own folder, own port).

They drive the real `reelstack` CLI the way a developer does and talk to the stack through boto3.
`make test` runs them in two pytest-xdist workers, whole files at a time (``--dist loadfile``). Each
worker starts and deploys a local cloud of its own, so a test that changes a deployed function's
environment or timeout changes it for its own worker's tests only.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.clients import local_session, subscribe_queue
from reelstack_cli.deploy import dev_secret
from reelstack_cli.invoke import physical_name, set_environment
from reelstack_cli.media import generate_clip
from reelstack_cli.settings import CHECKOUT, LOCAL_DIR, Settings
from reelstack_cli.template import load_template
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset

pytestmark = pytest.mark.localcloud

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under xdist; empty in one process

# The files that take longest come first, so that the workers, which take whole files in this order
# as they become free, end at about the same time.
LONGEST_FIRST = [
    "test_web_page.py",
    "test_pipeline.py",
    "test_chunked.py",
    "test_races.py",
    "test_webhooks.py",
    "test_feed.py",
    "test_uploads.py",
    "test_library.py",
    "test_api_contract.py",
    "test_push.py",
    "test_dead_letters.py",
    "test_foundation.py",
    "test_lambda_executor.py",
    "test_invoke.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cli:
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None, input_text: str | None = None
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "reelstack_cli.main", *args],
            input=input_text,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=CHECKOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"reelstack {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.run("--json", *args, **kwargs).stdout)


# The steps FAULT_INJECTION=stall:<step> can hold, and the function each runs in.
STALLABLE_STEPS = {"hls": "TranscodeFunction", "thumbnails": "DeriveFunction", "previews": "DeriveFunction"}


@dataclass
class Stack:
    cli: Cli
    settings: Settings
    outputs: dict[str, str]
    start_seconds: float
    deploy_seconds: float

    def client(self, service: str) -> Any:
        return local_session(self.settings).client(service)

    def function_name(self, logical_id: str) -> str:
        return physical_name(self.settings, logical_id)

    def execution_history(self, asset_id: str) -> list[dict[str, Any]]:
        """The events of the asset's pipeline execution (its name starts with the asset id)."""
        sfn = self.client("stepfunctions")
        executions = sfn.list_executions(stateMachineArn=self.outputs["stateMachineArn"])["executions"]
        arn = next(item["executionArn"] for item in executions if item["name"].startswith(asset_id))
        return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]

    @contextmanager
    def function_environment(self, logical_id: str) -> Iterator[Callable[[dict[str, str]], None]]:
        """Change a deployed function's environment variables (as a parameter would); restored after."""
        lambda_client, name = self.client("lambda"), self.function_name(logical_id)
        original = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]

        def configure(changes: dict[str, str]) -> None:
            set_environment(lambda_client, name, {**original, **changes})
            if _invoked_asynchronously(logical_id):
                # LocalStack's async event poller of the replaced version may have just taken an event off
                # its queue; it stops without handling it, and the event waits out its visibility timeout
                # (the function's timeout + 60 s: 90 s for Ingest). The poller's receive lasts at most 2 s
                # and LocalStack waits up to 3 s for it to stop: after that no event can be held.
                time.sleep(POLLER_HANDOVER_SECONDS)

        try:
            yield configure
        finally:
            configure({})

    @contextmanager
    def chunk_map_mode(self, mode: str) -> Iterator[None]:
        """The deployed state machine with its chunk Map in ``mode`` (``INLINE`` or ``DISTRIBUTED``), as a
        deploy with ``ChunkMapMode=<mode>`` makes it (the parameter only substitutes the Map's
        ``ProcessorConfig.Mode``); the deployed definition is restored after."""
        sfn, arn = self.client("stepfunctions"), self.outputs["stateMachineArn"]
        original = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        definition = json.loads(original)
        # The Maps the parameter decides, as the template names them (the derivatives' Maps stay INLINE).
        template = json.loads((CHECKOUT / "statemachines" / "pipeline.asl.json").read_text())
        chunk_maps = {
            name
            for name, state in _all_states(template)
            if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "${ChunkMapMode}"
        }
        maps = [state for name, state in _all_states(definition) if name in chunk_maps]
        assert maps, "the pipeline has no Map that ChunkMapMode decides"
        for state in maps:
            state["ItemProcessor"]["ProcessorConfig"]["Mode"] = mode
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))
        try:
            yield
        finally:
            sfn.update_state_machine(stateMachineArn=arn, definition=original)

    @contextmanager
    def stalled(self, step: str, seconds: float) -> Iterator[None]:
        """FAULT_INJECTION=stall:<step> (reelstack.pipeline.faults): the step holds what it made for
        ``seconds`` before it uploads it, once per asset: a window for races, or a video that stays
        processing."""
        with self.function_environment(STALLABLE_STEPS[step]) as configure:
            configure({"FAULT_INJECTION": f"stall:{step}", "FAULT_STALL_SECONDS": str(seconds)})
            yield

    def wait_until_stalled(self, asset_id: str, step: str, timeout: float = 90) -> None:
        """Until the step has made its outputs and is holding them (the fault is recorded on the asset)."""
        table, dynamodb = self.outputs["tableName"], self.client("dynamodb")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = dynamodb.get_item(TableName=table, Key={"assetId": {"S": asset_id}}, ConsistentRead=True)
            if f"stall:{step}" in item.get("Item", {}).get("injectedFaults", {}).get("SS", []):
                return
            time.sleep(0.3)
        raise AssertionError(f"the {step} step never reached its upload")


POLLER_HANDOVER_SECONDS = 3


def _all_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of an ASL definition by name, those in Parallel branches and Map processors included."""
    for name, state in definition["States"].items():
        yield name, state
        for inner in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
            yield from _all_states(inner)


@functools.cache
def _invoked_asynchronously(logical_id: str) -> bool:
    """Whether the function takes asynchronous events (those have an on-failure destination)."""
    return "EventInvokeConfig" in load_template(CHECKOUT / "template.yaml")["Resources"][logical_id]["Properties"]


@pytest.fixture(scope="session")
def cli() -> Cli:
    cloud_dir = LOCAL_DIR / (f"test-cloud-{WORKER}" if WORKER else "test-cloud")
    settings = Settings(cloud_dir=cloud_dir, port=_free_port(), stack_name="reelstack-test")
    env = {
        **os.environ,
        "REELSTACK_CLOUD_DIR": str(settings.cloud_dir),
        "REELSTACK_LOCAL_PORT": str(settings.port),
        "REELSTACK_STACK": settings.stack_name,
    }
    env.pop("AWS_ENDPOINT_URL", None)
    return Cli(env)


@pytest.fixture(scope="session")
def stack(cli: Cli, request: pytest.FixtureRequest) -> Iterator[Stack]:
    cli.run("local", "stop", "--clean")
    started = cli.json("local", "start")
    try:
        deployed = cli.json("deploy")
        settings = Settings(
            cloud_dir=Path(cli.env["REELSTACK_CLOUD_DIR"]),
            port=int(cli.env["REELSTACK_LOCAL_PORT"]),
            stack_name=cli.env["REELSTACK_STACK"],
        )
        yield Stack(cli, settings, deployed["outputs"], started["startSeconds"], deployed["deploySeconds"])
    finally:
        # After a failure the cloud's state and logs stay (LocalStack's, and each function's under
        # lambda/logs/) for a look; the next run cleans them first.
        kept = [] if request.session.testsfailed else ["--clean"]
        cli.run("local", "stop", *kept, check=False)
        if kept == []:
            print(f"\nthe local cloud's logs are kept in {cli.env['REELSTACK_CLOUD_DIR']}")


def api_for(stack: Stack, user: str) -> ApiClient:
    """The API as the development user ``user`` calls it."""
    return ApiClient(stack.outputs["apiUrl"], issue_dev_token(dev_secret(stack.settings, create=False), user))


def upload_ready_clip(api: ApiClient, folder: Path, seconds: float = 2) -> dict[str, Any]:
    """A tiny phone-like clip uploaded as ``api``'s user and processed: the asset, ready."""
    clip = generate_clip(folder / "tiny.mp4", seconds=seconds, width=320, height=240)
    uploaded = Uploader(api, "tester", state=StateStore(folder / "state")).upload(clip, resume="never")
    asset = wait_for_asset(api, uploaded["assetId"], timeout=120)
    assert asset["status"] == "ready", asset
    return asset


@pytest.fixture(scope="session")
def alice(stack: Stack) -> ApiClient:
    """The API as the development user alice calls it."""
    return api_for(stack, "alice")


@pytest.fixture(scope="session")
def mallory(stack: Stack) -> ApiClient:
    """Another user, who must never see alice's things."""
    return api_for(stack, "mallory")


@pytest.fixture(scope="session")
def bob(stack: Stack) -> ApiClient:
    """Another user, who sees what alice shares (public, ready assets) and nothing else of hers."""
    return api_for(stack, "bob")


@pytest.fixture(scope="session")
def events_queue(stack: Stack) -> Callable[[], list[dict[str, Any]]]:
    """An SQS queue subscribed to the topic; returns a function that drains it into a list."""
    sqs = stack.client("sqs")
    url = subscribe_queue(local_session(stack.settings), stack.outputs["eventsTopicArn"], f"events-{int(time.time())}")
    received: list[dict[str, Any]] = []

    def drain() -> list[dict[str, Any]]:
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            messages = batch.get("Messages", [])
            if not messages:
                return received
            for message in messages:
                document = json.loads(message["Body"])
                document["_attributeType"] = message.get("MessageAttributes", {}).get("type", {}).get("StringValue")
                received.append(document)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return drain
