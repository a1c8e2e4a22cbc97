"""Dead letters: the events an asynchronously invoked function (Ingest from S3, Notify from SNS,
ExecutionEnded from EventBridge, the sweeper from its schedule) failed on after Lambda's retries.

Each such function has an SQS queue as its on-failure destination (template.yaml). Lambda writes one
record per event there: ``requestContext`` (the function's ARN, the condition, the attempts),
``requestPayload`` (the event itself) and ``responsePayload`` (the error). Seeing them, redriving them
(the function runs again with the original event; the record goes only when that run succeeded) and
the queues' depth for GET /health live here; ``reelstack dlq`` is a thin shell around it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Longer than any function's timeout (900 s): a message being redriven stays hidden until its run ends.
REDRIVE_VISIBILITY_SECONDS = 960
_LISTING_VISIBILITY_SECONDS = 30  # hidden while a listing pages through the queue, then shown again at once


@dataclass(frozen=True)
class DeadLetter:
    """One failed event as its on-failure destination recorded it."""

    queue: str  # the queue's name in DEAD_LETTER_QUEUES (``ingest``)
    message_id: str
    receipt_handle: str
    function_arn: str
    condition: str  # RetriesExhausted, EventAgeExceeded, ...
    attempts: int
    failed_at: str  # when Lambda gave up (the record's timestamp)
    error_type: str
    error_message: str
    payload: Any  # the original event, as the function first received it

    @classmethod
    def from_message(cls, queue: str, message: Mapping[str, Any]) -> DeadLetter:
        record = json.loads(message["Body"])
        context = record.get("requestContext", {})
        response = record.get("responsePayload") or {}
        error = response if isinstance(response, dict) else {}
        return cls(
            queue=queue,
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            function_arn=context.get("functionArn", ""),
            condition=context.get("condition", ""),
            attempts=int(context.get("approximateInvokeCount", 0)),
            failed_at=str(record.get("timestamp", "")),
            error_type=str(error.get("errorType", "")),
            error_message=str(error.get("errorMessage", "")),
            payload=record.get("requestPayload"),
        )

    def summary(self) -> dict[str, Any]:
        """What ``reelstack dlq list --json`` shows of it (the event in full: it is what will run again)."""
        return {
            "queue": self.queue,
            "messageId": self.message_id,
            "function": self.function_arn,
            "condition": self.condition,
            "attempts": self.attempts,
            "failedAt": self.failed_at,
            "error": {"type": self.error_type, "message": self.error_message},
            "event": self.payload,
        }


@dataclass(frozen=True)
class Redriven:
    """The outcome of running one dead letter's event again."""

    letter: DeadLetter
    succeeded: bool
    error: str = ""  # why it failed again (the function's error, or the invoke's)

    def as_dict(self) -> dict[str, Any]:
        outcome = {"queue": self.letter.queue, "messageId": self.letter.message_id, "succeeded": self.succeeded}
        return outcome | ({"error": self.error} if self.error else {})


def depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, those being handled (hidden for now) included."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _receive(sqs: Any, queue: str, queue_url: str, visibility: int, limit: int | None) -> Iterator[DeadLetter]:
    """Every message once (each stays hidden for ``visibility`` seconds after it is received), up to ``limit``."""
    received, seen = 0, set()
    while limit is None or received < limit:
        batch = min(10, limit - received) if limit is not None else 10
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=batch, VisibilityTimeout=visibility, WaitTimeSeconds=1
        ).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:  # empty, or round again to what was read (its visibility ran out): every one read once
            return
        for message in fresh:
            seen.add(message["MessageId"])
            received += 1
            yield DeadLetter.from_message(queue, message)


def _show_again(sqs: Any, queue_url: str, letters: list[DeadLetter]) -> None:
    for start in range(0, len(letters), 10):
        entries = [
            {"Id": str(index), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
            for index, letter in enumerate(letters[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def peek(sqs: Any, queue: str, queue_url: str, limit: int | None = None) -> list[DeadLetter]:
    """The queue's dead letters, left in place (visible again as soon as they are read)."""
    letters = list(_receive(sqs, queue, queue_url, _LISTING_VISIBILITY_SECONDS, limit))
    _show_again(sqs, queue_url, letters)
    return letters


def _invoke(lambda_client: Any, letter: DeadLetter) -> str:
    """Run the function on the letter's event and wait for it; '' when it succeeded, else why not."""
    if not letter.function_arn:
        return "the record names no function"
    try:
        answer = lambda_client.invoke(
            FunctionName=letter.function_arn, InvocationType="RequestResponse", Payload=json.dumps(letter.payload)
        )
    except Exception as error:  # noqa: BLE001 - any failure to invoke keeps the letter; the reason is reported
        return f"{type(error).__name__}: {error}"
    if answer.get("FunctionError"):
        body = json.loads(answer["Payload"].read() or b"{}")
        details = body if isinstance(body, dict) else {}
        kind, message = str(details.get("errorType", answer["FunctionError"])), str(details.get("errorMessage", ""))
        # A named error's message already starts with its code ("StorageUnavailable: ..."): say it once.
        return message if message.startswith(f"{kind}:") else f"{kind}: {message}".rstrip(": ")
    return ""


def redrive(sqs: Any, lambda_client: Any, queue: str, queue_url: str, limit: int | None = None) -> list[Redriven]:
    """Run each dead letter's function again with its original event, one at a time; delete the letter
    only when that run succeeded. A letter whose run failed again stays, visible again at once."""
    letters = list(_receive(sqs, queue, queue_url, REDRIVE_VISIBILITY_SECONDS, limit))
    outcomes = []
    for letter in letters:
        error = _invoke(lambda_client, letter)
        if not error:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=letter.receipt_handle)
        outcomes.append(Redriven(letter, succeeded=not error, error=error))
    _show_again(sqs, queue_url, [outcome.letter for outcome in outcomes if not outcome.succeeded])
    return outcomes
