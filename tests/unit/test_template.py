"""template.yaml, the state machines and the packager agree with each other."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from reelstack import errors
from reelstack.media import hls
from reelstack.pipeline.asl import all_states
from reelstack_cli import package
from reelstack_cli.build_tools import BuildError
from reelstack_cli.deploy import DeployError, camel_outputs, check_concurrency, packaged_template
from reelstack_cli.package import Artifact, write_zip
from reelstack_cli.settings import CHECKOUT, TEMPLATE
from reelstack_cli.template import function_layers, load_template, resources_of_type
from tests.unit.conftest import load_handler_module

TEMPLATE_DATA = load_template(TEMPLATE)
STATE_MACHINES = resources_of_type(TEMPLATE_DATA, "AWS::Serverless::StateMachine")
FUNCTIONS = resources_of_type(TEMPLATE_DATA, "AWS::Serverless::Function")
AWS_ERROR_NAMES = re.compile(r"^(States\.|Lambda\.|Sandbox\.|Runtime\.)")


def test_short_form_tags_become_intrinsic_functions() -> None:
    env = TEMPLATE_DATA["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ASSETS_TABLE"] == {"Ref": "AssetsTable"}
    substitutions = STATE_MACHINES["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["ProbeFunctionArn"] == {"Fn::GetAtt": ["ProbeFunction", "Arn"]}


def test_functions_get_global_layers_first_then_their_own() -> None:
    assert function_layers(TEMPLATE_DATA, "ToolchainCheckFunction") == ["DepsLayer", "FfmpegLayer"]


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_every_substitution_in_a_state_machine_is_defined_and_used(name: str) -> None:
    properties = STATE_MACHINES[name]["Properties"]
    definition = (CHECKOUT / properties["DefinitionUri"]).read_text()
    assert set(re.findall(r"\$\{(\w+)\}", definition)) == set(properties["DefinitionSubstitutions"])


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_retry_and_catch_name_only_errors_that_exist(name: str) -> None:
    definition = json.loads((CHECKOUT / STATE_MACHINES[name]["Properties"]["DefinitionUri"]).read_text())
    domain_errors = {cls.__name__ for cls in vars(errors).values() if isinstance(cls, type)}
    for state in all_states(definition).values():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                assert AWS_ERROR_NAMES.match(error) or error in domain_errors, f"{error} is raised nowhere"


def _tasks(definition: dict) -> list[tuple[str, dict]]:
    """Every Task of the machine, those inside Parallels and Maps included (the diagram's one walker)."""
    return [(name, state) for name, state in all_states(definition).items() if state["Type"] == "Task"]


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_every_task_retries_exactly_the_transient_errors_and_never_a_verdict(name: str) -> None:
    """One taxonomy (errors.py): what is marked transient is retried by every task, with backoff and
    jitter; what is a verdict on the file or the input is never retried."""
    definition = json.loads((CHECKOUT / STATE_MACHINES[name]["Properties"]["DefinitionUri"]).read_text())
    transient, verdicts = set(errors.transient_names()), set(errors.verdict_names())
    assert {"StorageUnavailable", "ServiceUnavailable", "ToolchainFailed"} <= transient
    tasks = _tasks(definition)
    assert name != "PipelineStateMachine" or {"Probe source", "Encode chunk"} <= {task for task, _ in tasks}
    for task, state in tasks:
        retried = [rule for rule in state.get("Retry", []) if rule.get("MaxAttempts", 3) > 0]
        assert len(retried) == 2, f"{task}: one Retry rule for transient errors, one for throttles"
        failures, throttles = retried
        assert set(failures["ErrorEquals"]) == transient, task
        assert set(throttles["ErrorEquals"]) == set(errors.throttled_names()), task
        # A throttle (EncodeConcurrency reached) is waited out for minutes, longer than a transient fault.
        assert throttles["MaxAttempts"] > failures.get("MaxAttempts", 3) and throttles.get("MaxDelaySeconds"), task
        # ... on average (full jitter: half of each capped delay) longer than the longest step runs (900 s),
        # so a burst past the reservation waits for a transcode to finish instead of failing its video.
        delays = [
            min(throttles["IntervalSeconds"] * throttles["BackoffRate"] ** attempt, throttles["MaxDelaySeconds"])
            for attempt in range(throttles["MaxAttempts"])
        ]
        assert sum(delays) / 2 > 900 and sum(delays) < 3600, (task, sum(delays))
        for rule in retried:
            assert rule.get("JitterStrategy") == "FULL" and rule.get("BackoffRate", 1) > 1, task
        for rule in state.get("Retry", []):
            if rule.get("MaxAttempts", 3) == 0:
                assert set(rule["ErrorEquals"]) <= verdicts, task
            assert not set(rule["ErrorEquals"]) & {"States.ALL", "States.Timeout", "States.TaskFailed"}, task


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_has_a_handler_and_sample_events(name: str) -> None:
    properties = FUNCTIONS[name]["Properties"]
    folder = CHECKOUT / properties["CodeUri"]
    module, _, handler = properties["Handler"].rpartition(".")
    source = (folder / f"{module}.py").read_text()
    assert f"def {handler}(" in source
    events = list((CHECKOUT / "events" / folder.name).glob("*.json"))
    assert events, f"events/{folder.name}/ has no sample events"
    for event in events:
        json.loads(event.read_text())


def test_packaged_template_points_at_artifacts_and_inlines_definitions(tmp_path: Path) -> None:
    artifacts = {
        "DepsLayer": Artifact("DepsLayer", "layer", tmp_path / "d.zip", "abc", 1),
        "ToolchainCheckFunction": Artifact("ToolchainCheckFunction", "function", tmp_path / "f.zip", "def", 1),
    }
    packaged = packaged_template(TEMPLATE_DATA, artifacts, lambda artifact: {"Key": artifact.sha256})
    resources = packaged["Resources"]
    assert resources["DepsLayer"]["Properties"]["ContentUri"] == {"Key": "abc"}
    assert resources["ToolchainCheckFunction"]["Properties"]["CodeUri"] == {"Key": "def"}
    machine = resources["PipelineStateMachine"]["Properties"]
    assert "DefinitionUri" not in machine and machine["Definition"]["StartAt"]
    assert TEMPLATE_DATA["Resources"]["DepsLayer"]["Properties"]["ContentUri"] == "layers/deps/"  # not mutated


def test_outputs_take_the_contracts_camel_case_names() -> None:
    outputs = [{"OutputKey": "EventsTopicArn", "OutputValue": "arn"}, {"OutputKey": "ApiUrl", "OutputValue": "u"}]
    assert camel_outputs(outputs) == {"eventsTopicArn": "arn", "apiUrl": "u"}


def test_zips_are_deterministic_and_keep_the_executable_bit(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "tool").write_text("#!/bin/sh\n")
    (folder / "bin" / "tool").chmod(0o755)
    (folder / "data.txt").write_text("hello")
    size = write_zip(folder, tmp_path / "a.zip")
    (folder / "data.txt").touch()  # a new mtime must not change the artifact
    write_zip(folder, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert size == len("#!/bin/sh\n") + len("hello")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert sorted(archive.namelist()) == ["bin/tool", "data.txt"]
        assert (archive.getinfo("bin/tool").external_attr >> 16) & 0o111


COMPILED_BY_IMPORT = """
import importlib.machinery, sys
compiled = []
original = importlib.machinery.SourceFileLoader.source_to_code
def counting(loader, data, path, **options):
    compiled.append(path)
    return original(loader, data, path, **options)
importlib.machinery.SourceFileLoader.source_to_code = counting
import handler
print(",".join(compiled))
"""


def test_a_cold_start_imports_the_functions_python_without_compiling_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(package, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(package, "BUILD_DIR", tmp_path / "build")
    code = tmp_path / "functions" / "thing"
    (code / "__pycache__").mkdir(parents=True)
    (code / "handler.py").write_text("import helper\nVALUE = helper.VALUE\n")
    (code / "helper.py").write_text("VALUE = 1\n")
    (code / "__pycache__" / "stale.cpython-313.pyc").write_bytes(b"left over from a developer's run")
    artifact = package.build_function("ThingFunction", "functions/thing")

    def cold_start(task_root: Path) -> list[str]:
        """Import the handler as Lambda does: read-only code, so no .pyc is written; what was compiled."""
        result = subprocess.run(
            [sys.executable, "-c", COMPILED_BY_IMPORT],
            env={"PYTHONPATH": str(task_root), "PYTHONDONTWRITEBYTECODE": "1"},
            cwd=tmp_path, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return [Path(path).name for path in result.stdout.strip().split(",") if path]

    task_root = tmp_path / "task"
    with zipfile.ZipFile(artifact.zip_path) as archive:
        assert "__pycache__/stale.cpython-313.pyc" not in archive.namelist()
        archive.extractall(task_root)  # the files get today's times, not the zip's
    assert cold_start(task_root) == []
    # The .pyc checks its source's hash: an edited module (same size, same time) is compiled again.
    (task_root / "helper.py").write_text("VALUE = 2\n")
    assert cold_start(task_root) == ["helper.py"]

    # A rebuild elsewhere (another clone, an emptied cache) gives the same bytes: nothing to upload.
    monkeypatch.setattr(package, "BUILD_DIR", tmp_path / "another-build")
    assert package.build_function("ThingFunction", "functions/thing").sha256 == artifact.sha256


def test_a_function_over_lambdas_size_limit_fails_the_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(package, "BUILD_DIR", tmp_path)
    monkeypatch.setattr(package, "LAMBDA_UNZIPPED_LIMIT", 10)
    monkeypatch.setattr(package, "build_layer", lambda logical_id, uri: Artifact(logical_id, "layer", tmp_path, "x", 8))
    with pytest.raises(BuildError, match=r"ToolchainCheckFunction with layers DepsLayer, FfmpegLayer .* Lambda allows"):
        package.build_all(TEMPLATE_DATA)


def _routes() -> set[tuple[str, str]]:
    app = load_handler_module("api")
    return {(path, method) for path, methods in app.app.routes.items() for method in methods}


def test_every_chalice_path_has_its_any_event_and_no_other() -> None:
    """Chalice dispatches on the resource path (and answers 405 itself), so the template needs one Api
    event per path, method ANY, the catch-all included."""
    events = resources_of_type(load_template(TEMPLATE), "AWS::Serverless::Function")["ApiFunction"]["Properties"]
    declared = [(event["Properties"]["Path"], event["Properties"]["Method"]) for event in events["Events"].values()]
    assert sorted(declared) == sorted((path, "ANY") for path in {path for path, _ in _routes()})


def test_every_route_has_a_sample_event() -> None:
    catch_all = load_handler_module("api").UNKNOWN_ROUTE
    samples = {
        (event["resource"], event["httpMethod"])
        for event in (json.loads(path.read_text()) for path in (CHECKOUT / "events" / "api").glob("*.json"))
    }
    routes = {(path, method) for path, method in _routes() if path != catch_all}
    assert samples - {(catch_all, "GET")} == routes
    assert (catch_all, "GET") in samples  # events/api/unknown-route.json


def test_the_openapi_description_matches_the_code() -> None:
    from reelstack.api.openapi import OPERATIONS, document

    catch_all = load_handler_module("api").UNKNOWN_ROUTE
    assert {(op.path, op.method) for op in OPERATIONS} == {
        (path, method) for path, method in _routes() if path != catch_all
    }
    committed = json.loads((CHECKOUT / "docs" / "openapi.json").read_text())
    assert committed == document(), "regenerate docs/openapi.json with `reelstack openapi > docs/openapi.json`"


def test_two_deploys_at_once_take_turns_at_the_build_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(package, "BUILD_DIR", tmp_path)
    order: list[str] = []
    first_inside, first_may_leave = threading.Event(), threading.Event()

    def deploy(name: str) -> None:
        with package.build_folder_held(lambda step: order.append(f"{name}: {step}")):
            order.append(f"{name} builds and uploads")
            if name == "first":
                first_inside.set()
                first_may_leave.wait(10)

    first = threading.Thread(target=deploy, args=("first",))
    first.start()
    first_inside.wait(10)
    second = threading.Thread(target=deploy, args=("second",))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # held back while the first builds and uploads
    first_may_leave.set()
    first.join(10)
    second.join(10)
    assert order == [
        "first builds and uploads",
        "second: (waiting: another deploy is using the build folder)",
        "second builds and uploads",
    ]


ASYNC_EVENTS = {"S3", "SNS", "EventBridgeRule", "Schedule", "CloudWatchEvent", "ScheduleV2"}


def _asynchronous(name: str) -> bool:
    events = FUNCTIONS[name]["Properties"].get("Events", {})
    return any(event["Type"] in ASYNC_EVENTS for event in events.values())


def test_every_asynchronously_invoked_function_keeps_what_it_failed_on() -> None:
    """checkov's CKV_AWS_116 reads only DeadLetterQueue (.checkov.yaml skips it): this is its check.
    Each function an event invokes asynchronously sends what its retries could not handle to a queue
    of its own, which GET /health watches and `reelstack dlq` redrives."""
    watched = TEMPLATE_DATA["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]["DEAD_LETTER_QUEUES"]
    queues = set(re.findall(r"\$\{(\w+)\}", watched["Fn::Sub"]))
    asynchronous = sorted(name for name in FUNCTIONS if _asynchronous(name))
    assert {"IngestFunction", "NotifyFunction", "ExecutionEndedFunction", "UploadSweeperFunction"} <= set(asynchronous)
    destinations = []
    for name in asynchronous:
        on_failure = FUNCTIONS[name]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
        assert on_failure["Type"] == "SQS", name
        destinations.append(on_failure["Destination"]["Fn::GetAtt"][0])
    assert sorted(destinations) == sorted(queues)  # one queue each, every one of them watched
    outputs = TEMPLATE_DATA["Outputs"]["DeadLetterQueues"]["Value"]
    assert outputs == watched  # the CLI reads the same list


def test_every_function_logs_to_a_group_with_a_retention() -> None:
    groups = resources_of_type(TEMPLATE_DATA, "AWS::Logs::LogGroup").values()
    named = {group["Properties"]["LogGroupName"]["Fn::Sub"]: group["Properties"] for group in groups}
    for name in FUNCTIONS:
        assert named[f"/aws/lambda/${{{name}}}"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_the_encoders_reservation_holds_at_least_one_videos_fan_out() -> None:
    parameters = TEMPLATE_DATA["Parameters"]
    assert parameters["EncodeConcurrency"]["Default"] >= parameters["ChunkConcurrency"]["Default"]
    bounded = {
        name
        for name, function in FUNCTIONS.items()
        if function["Properties"].get("ReservedConcurrentExecutions", {}).get("Fn::If", [None])[0] == "EncodeBounded"
    }
    assert {"EncodeChunkFunction", "TranscodeFunction", "ProbeFunction"} <= bounded


def test_a_deploy_refuses_a_reservation_below_one_videos_fan_out() -> None:
    with pytest.raises(DeployError, match="EncodeConcurrency=8 is below ChunkConcurrency=40"):
        check_concurrency(TEMPLATE_DATA, {"EncodeConcurrency": "8"})
    check_concurrency(TEMPLATE_DATA, {"EncodeConcurrency": "0", "ChunkConcurrency": "400"})  # 0: no reservation
    check_concurrency(TEMPLATE_DATA, {})


def test_the_playlists_start_offset_is_longer_than_any_video_the_template_allows() -> None:
    """RFC 8216 reads a negative TIME-OFFSET longer than the playlist as its beginning: every player
    starts at 0 only while no video can be that long (MaxSourceSeconds at its largest)."""
    longest = load_template(TEMPLATE)["Parameters"]["MaxSourceSeconds"]["MaxValue"]
    assert longest < -hls.START_OFFSET_SECONDS
    assert f"#EXT-X-START:TIME-OFFSET={hls.START_OFFSET_SECONDS}" in hls.event_playlist([], "init.mp4", 6, False)
