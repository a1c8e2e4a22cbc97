"""GET /health with its sample event."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.unit.conftest import load_event, load_handler


def test_health_with_its_sample_event(aws: None) -> None:
    answer = load_handler("api")(load_event("api/health.json"), None)
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert body["checks"]["assetsTable"]["status"] == "ok"
    assert body["checks"]["eventsTopic"]["status"] == "down"  # no topic in this moto account
    assert body["status"] == "degraded"


def test_a_dead_letter_queue_holding_failed_events_degrades_health(aws: None, setenv: Any) -> None:
    sqs = boto3.client("sqs")
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="unit-events")["TopicArn"]
    ingest = sqs.create_queue(QueueName="ingest-dead-letters")["QueueUrl"]
    notify = sqs.create_queue(QueueName="notify-dead-letters")["QueueUrl"]
    setenv(EVENTS_TOPIC_ARN=topic, DEAD_LETTER_QUEUES=f"ingest={ingest} notify={notify}")
    handler = load_handler("api")

    healthy = json.loads(handler(load_event("api/health.json"), None)["body"])
    assert healthy["status"] == "ok"
    quiet = healthy["checks"]["ingestDeadLetters"]
    assert (quiet["status"], quiet["depth"]) == ("ok", 0)

    for _ in range(2):
        sqs.send_message(QueueUrl=ingest, MessageBody="{}")
    body = json.loads(handler(load_event("api/health.json"), None)["body"])
    assert body["status"] == "degraded"
    check = body["checks"]["ingestDeadLetters"]
    assert check["status"] == "degraded" and check["depth"] == 2 and "reelstack dlq" in check["error"]
    assert isinstance(check["latencyMs"], float)
    assert body["checks"]["notifyDeadLetters"]["status"] == "ok"
