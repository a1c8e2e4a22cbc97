"""Dead letters (reelstack.deadletters): read, listed without being consumed, redriven, kept on failure."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from reelstack import deadletters
from reelstack.config import named_urls

INGEST_ARN = "arn:aws:lambda:us-east-1:000000000000:function:reelstack-IngestFunction-abc:$LATEST"


def _record(event: dict[str, Any], attempts: int = 3) -> str:
    """An on-failure destination's record, as Lambda writes it after the last retry."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-12-04T10:00:00.000Z",
            "requestContext": {
                "requestId": "r-1",
                "functionArn": INGEST_ARN,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "InjectedFault", "errorMessage": "InjectedFault: fault injected"},
        }
    )


class RecordingLambda:
    """Lambda's Invoke, answering as a function would: it fails on the events named in ``failing``."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.failing, self.calls = failing, []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        event = json.loads(Payload)
        self.calls.append((FunctionName, InvocationType, event))
        if event["key"] in self.failing:
            body = {"errorType": "StorageUnavailable", "errorMessage": "StorageUnavailable: still down"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(b"[]")}


@pytest.fixture
def queue(aws: None) -> tuple[Any, str]:
    sqs = boto3.client("sqs")
    return sqs, sqs.create_queue(QueueName="ingest-dead-letters")["QueueUrl"]


def test_the_stacks_list_of_queues_reads_as_names_and_urls() -> None:
    text = "ingest=http://q/1 notify=http://q/2\nexecutionEnded=http://q/3?a=b"
    assert named_urls(text) == {"ingest": "http://q/1", "notify": "http://q/2", "executionEnded": "http://q/3?a=b"}
    assert named_urls("") == {}


def test_listing_shows_the_event_and_its_error_and_consumes_nothing(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for key in ("sources/a", "sources/b"):
        sqs.send_message(QueueUrl=url, MessageBody=_record({"key": key}))
    letters = deadletters.peek(sqs, "ingest", url)
    assert sorted(letter.payload["key"] for letter in letters) == ["sources/a", "sources/b"]
    summary = letters[0].summary()
    assert summary["function"] == INGEST_ARN and summary["attempts"] == 3 and summary["condition"] == "RetriesExhausted"
    assert summary["error"] == {"type": "InjectedFault", "message": "InjectedFault: fault injected"}
    # still there, and visible again: a second look sees both, and so does a redrive
    assert deadletters.depth(sqs, url) == 2
    assert len(deadletters.peek(sqs, "ingest", url)) == 2
    assert len(deadletters.peek(sqs, "ingest", url, limit=1)) == 1


def test_redrive_runs_the_function_again_and_deletes_only_what_then_succeeded(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    for key in ("sources/fixed", "sources/still-broken"):
        sqs.send_message(QueueUrl=url, MessageBody=_record({"key": key}))
    functions = RecordingLambda(failing={"sources/still-broken"})
    outcomes = {
        outcome.letter.payload["key"]: outcome for outcome in deadletters.redrive(sqs, functions, "ingest", url)
    }
    # the original event, to the function that failed on it, and the CLI waits for its answer
    assert sorted(call[2]["key"] for call in functions.calls) == ["sources/fixed", "sources/still-broken"]
    assert {(name, kind) for name, kind, _ in functions.calls} == {(INGEST_ARN, "RequestResponse")}
    assert outcomes["sources/fixed"].succeeded
    assert not outcomes["sources/still-broken"].succeeded
    assert outcomes["sources/still-broken"].as_dict()["error"] == "StorageUnavailable: still down"
    left = deadletters.peek(sqs, "ingest", url)
    assert [letter.payload["key"] for letter in left] == ["sources/still-broken"]  # kept, visible again


def test_an_empty_queue_redrives_nothing(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    functions = RecordingLambda()
    assert deadletters.redrive(sqs, functions, "ingest", url) == []
    assert functions.calls == []
