"""Nothing is lost when an asynchronously invoked function keeps failing: on the local cloud, an
upload's S3 event that Ingest fails on every retry lands in Ingest's dead-letter queue, GET /health
says so, and `reelstack dlq redrive` (once the outage is over) turns it into a ready asset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from reelstack import deadletters
from reelstack.config import named_urls
from reelstack_cli.api_client import ApiClient
from reelstack_cli.media import generate_clip
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset
from tests.integration.conftest import Stack

pytestmark = pytest.mark.localcloud


def _dead_letters_for(stack: Stack, asset_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Ingest's dead letters whose event is this asset's upload (as `reelstack dlq list` shows them),
    once there is one. The queue's depth is watched in-process: a CLI process a second costs the cores."""
    sqs, queue_url = stack.client("sqs"), named_urls(stack.outputs["deadLetterQueues"])["ingest"]
    deadline = time.monotonic() + timeout
    while True:
        if deadletters.depth(sqs, queue_url) == 0 and time.monotonic() < deadline:
            time.sleep(1)
            continue
        (queue,) = stack.cli.json("dlq", "list", "--queue", "ingest")["queues"]
        mine = [
            letter
            for letter in queue["messages"]
            if any(asset_id in record["s3"]["object"]["key"] for record in letter["event"]["Records"])
        ]
        if mine or time.monotonic() > deadline:
            return mine
        time.sleep(1)


def test_an_event_ingest_failed_on_waits_in_its_queue_and_is_redriven_into_a_ready_asset(
    stack: Stack, alice: ApiClient, tmp_path: Path
) -> None:
    clip = generate_clip(tmp_path / "outage.mp4", seconds=1, width=320, height=180)
    with stack.function_environment("IngestFunction") as configure:
        configure({"FAULT_INJECTION": "ingest"})  # an outage: every attempt fails
        uploaded = Uploader(alice, "alice", state=StateStore(tmp_path)).upload(clip, resume="never")
        letters = _dead_letters_for(stack, uploaded["assetId"])
        assert len(letters) == 1, "the S3 event should be in Ingest's dead-letter queue once its retries are spent"
        (letter,) = letters
        assert letter["attempts"] == 3 and letter["condition"] == "RetriesExhausted"  # the first try and 2 retries
        assert letter["error"]["type"] == "InjectedFault"
        assert "IngestFunction" in letter["function"]
        # Listing consumed nothing; the API reports the loss-in-waiting
        health = alice.get("/health")
        assert health["status"] == "degraded"
        assert health["checks"]["ingestDeadLetters"]["status"] == "degraded"
        assert health["checks"]["ingestDeadLetters"]["depth"] >= 1
        assert alice.get(f"/assets/{uploaded['assetId']}")["status"] not in ("processing", "ready")

    # The outage is over (the function's own environment is back): run the event again.
    redriven = stack.cli.json("dlq", "redrive", "--queue", "ingest")
    assert redriven["kept"] == 0 and redriven["redriven"] >= 1, redriven
    asset = wait_for_asset(alice, uploaded["assetId"], timeout=180)
    assert asset["status"] == "ready", asset.get("error")
    assert _dead_letters_for(stack, uploaded["assetId"], timeout=0) == []
    check = alice.get("/health")["checks"]["ingestDeadLetters"]
    assert (check["status"], check["depth"]) == ("ok", 0)
