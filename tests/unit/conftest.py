"""Unit tests: no local cloud. AWS calls go to moto; DynamoDB tables come from template.yaml."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from reelstack.api.auth import issue_dev_token
from reelstack.store.records import UploadModel
from reelstack_cli import media as test_media
from reelstack_cli.package import layer_binaries
from reelstack_cli.settings import CHECKOUT, TEMPLATE
from reelstack_cli.template import function_layers, load_template, resources_of_type

# Powertools reads its metrics namespace when reelstack.observability is first imported, which may be a
# test that loads a handler without the `aws` fixture (the template checks): set it for the whole run.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ReelstackUnit")

TABLE_ENV = {
    "AssetsTable": "ASSETS_TABLE",
    "UploadsTable": "UPLOADS_TABLE",
    "IdempotencyTable": "IDEMPOTENCY_TABLE",
    "ThrottleTable": "THROTTLE_TABLE",
    "DevicesTable": "DEVICES_TABLE",
    "OutboxTable": "OUTBOX_TABLE",
    "WebhooksTable": "WEBHOOKS_TABLE",
    "WebhookDeliveriesTable": "WEBHOOK_DELIVERIES_TABLE",
}
SAMPLE_EVENTS_SECRET = "sample-events-secret-never-deployed-anywhere"  # see events/README.md
UPLOAD_BUCKET = "unit-upload-bucket"
MEDIA_BUCKET = "unit-media-bucket"
_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode")


class _LambdaContext:
    function_name = "unit-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:unit-test"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/unit-test"
    log_stream_name = "unit"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 120_000  # enough for every step on the unit tests' small clips, with the margins kept back


def _object_as_file(job: Any, folder: Path) -> Path:
    """The job's source object (its version) as a local file, in place of its presigned URL."""
    target = folder / f"source-{job.asset_id}"
    if not target.exists():
        version = {"VersionId": job.source.version_id} if job.source.version_id else {}
        answer = boto3.client("s3").get_object(Bucket=job.source.bucket, Key=job.source.key, **version)
        target.write_bytes(answer["Body"].read())
    return target


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto with every DynamoDB table of template.yaml, and the table names in the environment. moto
    serves no HTTP: the encodes, which read the source by a presigned GET, read the same object's bytes
    from a local file instead."""
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ReelstackUnit",
        "UPLOAD_BUCKET": UPLOAD_BUCKET,
        "MEDIA_BUCKET": MEDIA_BUCKET,
        "JWT_DEV_SECRET": SAMPLE_EVENTS_SECRET,
        # Deployed defaults (reelstack.config) but for two that would only slow the unit tests down:
        # extras do not wait for playable, and the API does not throttle (test_throttle sets its own).
        "EXTRAS_YIELD_SECONDS": "0",
        "CLIENT_REQUESTS_PER_SECOND": "0",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        for logical_id, table in resources_of_type(the_template(), "AWS::DynamoDB::Table").items():
            name = f"unit-{logical_id}"
            properties = {key: value for key, value in table["Properties"].items() if key in _TABLE_KEYS}
            dynamodb.create_table(TableName=name, **properties)
            if logical_id in TABLE_ENV:
                monkeypatch.setenv(TABLE_ENV[logical_id], name)
        s3 = boto3.client("s3")
        for bucket in (UPLOAD_BUCKET, MEDIA_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=UPLOAD_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        from reelstack import aws as reelstack_aws
        from reelstack import config
        from reelstack.derivatives import recipe
        from reelstack.pipeline import chunked, steps

        for cached in (config.deployment, reelstack_aws.client, reelstack_aws.presigning_s3):
            cached.cache_clear()
        monkeypatch.setattr(steps, "source_url", lambda job: _object_as_file(job, tmp_path))
        monkeypatch.setattr(chunked, "source_url", lambda job: _object_as_file(job, tmp_path))
        monkeypatch.setattr(recipe, "source_url", lambda job: _object_as_file(job, tmp_path))
        yield
        for cached in (config.deployment, reelstack_aws.client, reelstack_aws.presigning_s3):
            cached.cache_clear()


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set environment variables of the deployment and make ``config.deployment()`` read them again."""
    from reelstack import config

    def set_all(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        config.deployment.cache_clear()

    yield set_all
    config.deployment.cache_clear()


def load_event(name: str, **path_parameters: str) -> dict[str, Any]:
    """A sample event from events/ with the placeholder ids in its path replaced by real ones."""
    event = json.loads((CHECKOUT / "events" / name).read_text())
    for key, value in path_parameters.items():  # API events only
        placeholder = event["pathParameters"][key]
        event["pathParameters"][key] = value
        event["path"] = event["path"].replace(placeholder, value)
    return event


def load_handler_module(function: str) -> ModuleType:
    """Import functions/<function>/app.py afresh, as a new Lambda environment would."""
    spec = importlib.util.spec_from_file_location(f"app_{function}", CHECKOUT / "functions" / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_handler(function: str) -> Callable[[dict[str, Any], Any], Any]:
    """The function's handler, called with a Lambda-like context and, as on Lambda, only the binaries
    its own layers in template.yaml provide (a step that runs a tool its function lacks fails here)."""
    module = load_handler_module(function)

    def invoke(event: dict[str, Any], _context: Any) -> Any:
        with only_the_layers_of(function):
            return module.handler(event, _LambdaContext())

    return invoke


TOOLS = ("ffmpeg", "ffprobe")


@cache
def the_template() -> dict[str, Any]:
    """template.yaml, parsed once per test run (PyYAML takes about a second for it)."""
    return load_template(TEMPLATE)


@cache
def layer_binaries_of(function: str) -> frozenset[str]:
    """The executables that functions/<function>'s layers put on its PATH, per template.yaml."""
    template = the_template()
    functions = resources_of_type(template, "AWS::Serverless::Function")
    (logical_id,) = [
        name
        for name, resource in functions.items()
        if resource["Properties"].get("CodeUri", "").rstrip("/") == f"functions/{function}"
    ]
    layers = template["Resources"]
    return frozenset(
        binary
        for layer in function_layers(template, logical_id)
        for binary in layer_binaries(layers[layer]["Properties"]["ContentUri"])
    )


@contextmanager
def only_the_layers_of(function: str) -> Iterator[None]:
    """FFMPEG_PATH/FFPROBE_PATH for the binaries the function's layers provide, none for the others,
    and a PATH where no other copy can be found."""
    from reelstack import config

    provided = layer_binaries_of(function)
    saved = {name: os.environ.get(name) for name in ["PATH", *(f"{tool.upper()}_PATH" for tool in TOOLS)]}
    pinned = {"ffmpeg": test_media.ffmpeg, "ffprobe": test_media.ffprobe}
    try:
        for tool in TOOLS:
            os.environ[f"{tool.upper()}_PATH"] = pinned[tool]() if tool in provided else ""
        os.environ["PATH"] = "/nonexistent-layers-bin"
        config.deployment.cache_clear()
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        config.deployment.cache_clear()


@pytest.fixture(autouse=True)
def no_name_lookups() -> Iterator[None]:
    """A name looked up in a test would send a packet to this machine's resolver, which is off the
    machine: the URL guard's default resolver refuses, and tests that need names inject a stub."""
    from reelstack import netguard

    def refuse(host: str, port: int) -> list[str]:
        raise AssertionError(f"a test looked up {host!r}: give the guard a stub resolver")

    previous = netguard.use_resolver(refuse)
    yield
    netguard.use_resolver(previous)


@pytest.fixture(autouse=True)
def pinned_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The same FFmpeg and ffprobe builds as the layers (from the project's environment), and a
    deployment read afresh for every test."""
    from reelstack import config

    monkeypatch.setenv("FFMPEG_PATH", test_media.ffmpeg())
    monkeypatch.setenv("FFPROBE_PATH", test_media.ffprobe())
    config.deployment.cache_clear()
    yield
    config.deployment.cache_clear()


def client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)  # fmt: skip


def call(name: str, *, user: str | None = None, body: Any = ..., auth: str | None = ..., **ids: str) -> tuple[int, Any]:
    """Invoke the API handler with events/api/<name>.json, optionally as another user or body."""
    event = load_event(f"api/{name}.json", **ids)
    if user is not None:
        auth = f"Bearer {issue_dev_token(SAMPLE_EVENTS_SECRET, user)}"
    if auth is not ...:
        event["headers"].pop("Authorization")
        if auth is not None:
            event["headers"]["Authorization"] = auth
    if body is not ...:
        event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    response = load_handler("api")(event, None)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def put_parts(created: dict[str, Any], sizes: list[int] | None = None) -> list[dict[str, Any]]:
    """What a client does with the URLs, done with boto3 on moto (which does not serve URLs)."""
    s3 = boto3.client("s3")
    upload = UploadModel.get(created["uploadId"])
    parts = []
    sizes = sizes or [part["size"] for part in created["parts"]]
    for number, size in enumerate(sizes, start=1):
        answer = s3.upload_part(
            Bucket=UPLOAD_BUCKET, Key=upload.key, UploadId=upload.s3_upload_id, PartNumber=number, Body=b"v" * size
        )
        parts.append({"partNumber": number, "etag": answer["ETag"]})
    return parts


@pytest.fixture
def created(aws: None) -> dict[str, Any]:
    status, body = call("create-upload")
    assert status == 201, body
    return body


@dataclass
class Cloud:
    events_queue: str
    deliveries_queue: str

    def published(self) -> list[dict[str, Any]]:
        """The events on the topic since the last call."""
        return [json.loads(message["Body"]) for message in _drain(self.events_queue)]

    def queued(self) -> list[dict[str, Any]]:
        """The attempts on the deliveries queue since the last call (delays ignored)."""
        return [json.loads(message["Body"]) for message in _drain(self.deliveries_queue)]


def _drain(queue: str) -> list[dict[str, Any]]:
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        found += messages
    return found


@pytest.fixture
def cloud(aws: None, setenv: Callable[..., None]) -> Cloud:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="unit-events")["TopicArn"]
    events = sqs.create_queue(QueueName="unit-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=events, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    # DelaySeconds is kept by moto too; the tests read what was queued, whatever its delay.
    deliveries = sqs.create_queue(QueueName="unit-deliveries")["QueueUrl"]
    setenv(EVENTS_TOPIC_ARN=topic, WEBHOOK_DELIVERIES_QUEUE_URL=deliveries, ALLOW_LOOPBACK_URLS="on",
           WEBHOOK_RETRY_SCHEDULE="5,300,1800")  # fmt: skip
    return Cloud(events, deliveries)
