"""Deploy template.yaml: build, upload artifacts, then create or update the CloudFormation stack.

The local cloud and AWS share the build (``package.py``). Locally, the artifacts go to a bucket of the
local cloud and the stack is created through its CloudFormation, where the SAM transform runs. On AWS,
``sam deploy --resolve-s3`` uploads the same zips and deploys the same packaged template.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from reelstack_cli import speech_model
from reelstack_cli.clients import local_session
from reelstack_cli.package import Artifact, build_all, build_folder_held
from reelstack_cli.settings import BUILD_DIR, LOCAL_DIR, PROJECT_ROOT, TEMPLATE, Settings
from reelstack_cli.template import load_template, resources_of_type

ARTIFACTS_BUCKET = "reelstack-artifacts"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
TERMINAL_FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_FAILED",
    "DELETE_FAILED",
    "DELETE_COMPLETE",
}

Progress = Callable[[str], None]


class DeployError(RuntimeError):
    """The stack could not be deployed; the message names the failing resources and why."""


def packaged_template(
    template: dict[str, Any], artifacts: dict[str, Artifact], locate: Callable[[Artifact], Any]
) -> dict[str, Any]:
    """The template with each CodeUri/ContentUri pointing at its artifact and definitions inlined."""
    packaged = copy.deepcopy(template)
    resources = packaged["Resources"]
    for logical_id, artifact in artifacts.items():
        uri_property = "CodeUri" if artifact.kind == "function" else "ContentUri"
        resources[logical_id]["Properties"][uri_property] = locate(artifact)
    for resource in resources_of_type(packaged, "AWS::Serverless::StateMachine").values():
        properties = resource["Properties"]
        if isinstance(properties.get("DefinitionUri"), str):
            properties["Definition"] = json.loads((PROJECT_ROOT / properties.pop("DefinitionUri")).read_text())
    return packaged


def camel_outputs(outputs: list[dict[str, str]]) -> dict[str, str]:
    """Stack outputs under the contract's names (``UploadBucket`` -> ``uploadBucket``)."""
    return {item["OutputKey"][0].lower() + item["OutputKey"][1:]: item["OutputValue"] for item in outputs}


# -- local cloud ---------------------------------------------------------------------------------


def _upload_artifacts(s3: Any, artifacts: dict[str, Artifact], progress: Progress) -> dict[str, dict[str, str]]:
    try:
        s3.head_bucket(Bucket=ARTIFACTS_BUCKET)
    except ClientError:
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    locations = {}
    for artifact in artifacts.values():
        key = f"{artifact.logical_id}/{artifact.sha256}.zip"
        try:
            s3.head_object(Bucket=ARTIFACTS_BUCKET, Key=key)
        except ClientError:
            size = artifact.zip_path.stat().st_size
            progress(f"uploading {artifact.logical_id} ({size / 2**20:.1f} MiB)")
            s3.upload_file(str(artifact.zip_path), ARTIFACTS_BUCKET, key)
        locations[artifact.logical_id] = {"Bucket": ARTIFACTS_BUCKET, "Key": key}
    return locations


def _upload_default_speech_model(
    s3: Any, template: dict[str, Any], parameters: dict[str, str], progress: Progress
) -> None:
    """The pinned default Whisper model where the template's defaults point (the artifacts bucket),
    unless the deployment names a model of its own."""
    defaults = template["Parameters"]
    bucket = parameters.get("SpeechModelBucket", defaults["SpeechModelBucket"]["Default"])
    if bucket != ARTIFACTS_BUCKET:
        return
    prefix = parameters.get("SpeechModelPrefix", defaults["SpeechModelPrefix"]["Default"])
    speech_model.upload_model(s3, bucket, prefix, speech_model.pinned_model(), progress)


def _stack_status(cfn: Any, stack_name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def _failure_reasons(cfn: Any, stack_name: str, since: float) -> list[str]:
    reasons = []
    for event in cfn.describe_stack_events(StackName=stack_name)["StackEvents"]:
        if event["Timestamp"].timestamp() < since - 1:
            continue
        if event["ResourceStatus"].endswith("FAILED") and event.get("ResourceStatusReason"):
            reasons.append(f"{event['LogicalResourceId']} ({event['ResourceType']}): {event['ResourceStatusReason']}")
    return reasons


def deploy_stack(
    cfn: Any, stack_name: str, template_url: str, parameters: dict[str, str], progress: Progress, timeout: float = 600
) -> str:
    """Create or update the stack through a change set; returns the final stack status. The template is
    read from S3, as `sam deploy` does: it is past the 51,200 bytes a TemplateBody may hold."""
    status = _stack_status(cfn, stack_name)
    if status in ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS", "CREATE_FAILED"):
        progress(f"removing the failed stack {stack_name} ({status}) first")
        cfn.delete_stack(StackName=stack_name)
        cfn.get_waiter("stack_delete_complete").wait(StackName=stack_name, WaiterConfig={"Delay": 1})
        status = None
    change_set_type = "UPDATE" if status else "CREATE"
    started = time.time()
    try:
        change_set = cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=f"reelstack-{int(started * 1000)}",
            ChangeSetType=change_set_type,
            TemplateURL=template_url,
            Capabilities=CAPABILITIES,
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        )
    except ClientError as error:
        raise DeployError(
            f"CloudFormation refused the template: {error}. If the local stack was made by an older "
            "version of the template, start over with `reelstack local stop --clean`."
        ) from error
    while True:
        described = cfn.describe_change_set(ChangeSetName=change_set["Id"], StackName=stack_name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            break
        time.sleep(0.3)
    if described["Status"] == "FAILED" or (change_set_type == "UPDATE" and not described.get("Changes")):
        reason = described.get("StatusReason") or ""
        # AWS fails an empty change set; LocalStack completes it with no changes.
        if not described.get("Changes") or "didn't contain changes" in reason or "No updates" in reason:
            progress("no changes")
            cfn.delete_change_set(ChangeSetName=change_set["Id"], StackName=stack_name)
            return status or "CREATE_COMPLETE"
        raise DeployError(f"change set failed: {reason}")
    progress(f"{'creating' if change_set_type == 'CREATE' else 'updating'} stack {stack_name}")
    cfn.execute_change_set(ChangeSetName=change_set["Id"], StackName=stack_name)
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
        for event in reversed(events):
            if event["EventId"] in seen or event["Timestamp"].timestamp() < started - 1:
                continue
            seen.add(event["EventId"])
            if event["LogicalResourceId"] != stack_name and event["ResourceStatus"].endswith(("COMPLETE", "FAILED")):
                progress(f"{event['ResourceStatus']:<16} {event['LogicalResourceId']}")
        status = _stack_status(cfn, stack_name) or "DELETE_COMPLETE"
        if status in TERMINAL_OK:
            return status
        if status in TERMINAL_FAILED:
            reasons = _failure_reasons(cfn, stack_name, started) or [f"stack ended in {status}"]
            raise DeployError("deploy failed:\n  " + "\n  ".join(reasons))
        time.sleep(0.5)
    raise DeployError(f"the stack did not finish within {timeout:.0f}s (last status {status})")


def check_concurrency(template: dict[str, Any], parameters: dict[str, str]) -> None:
    """EncodeConcurrency (each media function's reservation) must hold one video's own fan-out,
    ChunkConcurrency, or a single long video would throttle itself; 0 means no reservation."""
    defaults = template["Parameters"]

    def value(name: str) -> int:
        return int(parameters.get(name, defaults[name]["Default"]))

    encoders, chunks = value("EncodeConcurrency"), value("ChunkConcurrency")
    if 0 < encoders < chunks:
        raise DeployError(
            f"EncodeConcurrency={encoders} is below ChunkConcurrency={chunks}: one video's chunks could not all "
            "encode at once. Raise EncodeConcurrency (or 0: no reservation), or lower ChunkConcurrency."
        )


def local_parameters(settings: Settings) -> dict[str, str]:
    """What the local cloud needs that AWS must not get: development tokens, test-key signing and
    push platform applications with made-up credentials (the local cloud records pushes, sends none)."""
    return {
        "JwtDevSecret": dev_secret(settings),
        "PlaybackSecret": dev_secret(settings, name="playback-secret"),
        "PresignCredentials": "local-test-keys",
        # Webhooks may reach a receiver on this machine (`reelstack webhooks listen`, the tests).
        "AllowLoopbackUrls": "on",
        # Chunks encode side by side on this machine's cores (on AWS, ChunkConcurrency Lambdas at once).
        "ChunkConcurrency": str(os.cpu_count() or 1),
        **local_push_applications(local_session(settings).client("sns"), settings.stack_name),
    }


def local_push_applications(sns: Any, stack_name: str) -> dict[str, str]:
    """One SNS platform application per push platform, made once (making it again would forget its
    endpoints in the local cloud)."""
    existing = {
        application["PlatformApplicationArn"].split(":app/", 1)[-1]: application["PlatformApplicationArn"]
        for page in sns.get_paginator("list_platform_applications").paginate()
        for application in page["PlatformApplications"]
    }
    made = {}
    for parameter, platform in (("ApnsPlatformApplicationArn", "APNS_SANDBOX"), ("FcmPlatformApplicationArn", "GCM")):
        name = f"{stack_name}-{platform.lower().replace('_', '-')}"
        made[parameter] = (
            existing.get(f"{platform}/{name}")
            or sns.create_platform_application(
                Name=name,
                Platform=platform,
                Attributes={"PlatformPrincipal": "local-cloud", "PlatformCredential": "local-cloud"},
            )["PlatformApplicationArn"]
        )
    return made


def dev_secret(settings: Settings, create: bool = True, name: str = "jwt-dev-secret") -> str:
    """A secret of the local cloud (the development JWT key by default), made on first deploy and
    kept with its state."""
    path = settings.cloud_dir / name
    if not path.exists():
        if not create:
            raise DeployError(f"no development secret at {path}: run `reelstack deploy` first")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def deploy_local(settings: Settings, progress: Progress, parameters: dict[str, str] | None = None) -> dict[str, str]:
    parameters = {**local_parameters(settings), **(parameters or {})}
    template = load_template(TEMPLATE)
    if "EncodeConcurrency" not in parameters:  # a machine with more cores than the default reserves
        default = int(template["Parameters"]["EncodeConcurrency"]["Default"])
        parameters["EncodeConcurrency"] = str(max(default, int(parameters["ChunkConcurrency"])))
    check_concurrency(template, parameters)
    session = local_session(settings)
    with build_folder_held(progress):
        artifacts = build_all(template, lambda step: progress(f"building {step}"))
        locations = _upload_artifacts(session.client("s3"), artifacts, progress)
        _upload_default_speech_model(session.client("s3"), template, parameters, progress)
    packaged = packaged_template(template, artifacts, lambda artifact: locations[artifact.logical_id])
    body = json.dumps(packaged).encode()
    key = f"templates/{hashlib.sha256(body).hexdigest()}.json"
    session.client("s3").put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body)
    cfn = session.client("cloudformation")
    deploy_stack(cfn, settings.stack_name, f"{settings.endpoint}/{ARTIFACTS_BUCKET}/{key}", parameters, progress)
    return local_outputs(settings)


def local_outputs(settings: Settings) -> dict[str, str]:
    """The stack's outputs, with the API's URL in the path form the local cloud serves."""
    outputs = stack_outputs(local_session(settings).client("cloudformation"), settings.stack_name)
    match = re.match(r"https://([^.]+)\.execute-api\.[^/]+/(.+)$", outputs.get("apiUrl", ""))
    if match:
        outputs["apiUrl"] = f"{settings.endpoint}/_aws/execute-api/{match.group(1)}/{match.group(2)}"
    return outputs


def _deployed(cfn: Any, stack_name: str) -> dict[str, Any]:
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        raise DeployError(
            f"stack {stack_name} is not deployed here: run `reelstack deploy` (or `make demo`)"
        ) from error


def current_parameters(settings: Settings) -> dict[str, str]:
    """The deployed stack's parameter values, so that a redeploy that names none keeps them."""
    stack = _deployed(local_session(settings).client("cloudformation"), settings.stack_name)
    # A NoEcho parameter reads back as "****" (on AWS): those are the secrets local_parameters() sets.
    return {
        item["ParameterKey"]: item["ParameterValue"]
        for item in stack.get("Parameters", [])
        if item.get("ParameterValue") != "****"
    }


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    return camel_outputs(_deployed(cfn, stack_name).get("Outputs", []))


# -- AWS -----------------------------------------------------------------------------------------


def deploy_aws(stack_name: str, progress: Progress, parameters: dict[str, str] | None = None) -> None:
    """Build with the same packager, then let ``sam deploy`` upload the zips and deploy."""
    sam = shutil.which("sam") or str(LOCAL_DIR / "sam-venv" / "bin" / "sam")
    if not Path(sam).exists():
        raise DeployError("the SAM CLI is not installed: run `make sam`")
    template = load_template(TEMPLATE)
    check_concurrency(template, parameters or {})
    with build_folder_held(progress):  # sam reads the zips until it has uploaded them
        _sam_deploy(sam, stack_name, template, progress, parameters)


def _sam_deploy(
    sam: str, stack_name: str, template: dict[str, Any], progress: Progress, parameters: dict[str, str] | None
) -> None:
    artifacts = build_all(template, lambda step: progress(f"building {step}"))
    packaged = packaged_template(template, artifacts, lambda artifact: str(artifact.zip_path))
    packaged_path = BUILD_DIR / "packaged.json"
    packaged_path.write_text(json.dumps(packaged, indent=1))
    command = [
        sam,
        "deploy",
        "--template-file",
        str(packaged_path),
        "--stack-name",
        stack_name,
        "--resolve-s3",
        "--capabilities",
        *CAPABILITIES,
        "--no-fail-on-empty-changeset",
        "--no-confirm-changeset",
    ]
    if parameters:
        command += ["--parameter-overrides", *[f"{key}={value}" for key, value in parameters.items()]]
    progress(" ".join(command))
    if subprocess.run(command, check=False).returncode != 0:
        raise DeployError("sam deploy failed (its output is above)")
