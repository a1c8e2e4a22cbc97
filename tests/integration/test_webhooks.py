"""Webhooks and the outbox on the local cloud, end to end, with one 2 s upload for everything.

Receivers on loopback (allowed by the development switch AllowLoopbackUrls, on in the local cloud
the tests deploy) verify every delivery with the ``standardwebhooks`` package, not the project's
code. The retry schedule runs in seconds (WebhookRetrySchedule, set on the deliver function). The
Publish step is told to die between its write and its publish (FAULT_INJECTION=crash:asset.ready):
asset.ready waits in the outbox until the sweeper publishes it, and still arrives once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.media import generate_clip
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset
from tests.integration.conftest import Stack

pytestmark = pytest.mark.localcloud

SCHEDULE = "1,1,1"  # four attempts a second apart, then failed


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers ``statuses`` in turn (the last one forever)."""

    statuses: list[int]
    received: list[Received] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # its secrets so far, the newest last

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                with lock:
                    receiver.received.append(Received(dict(self.headers.items()), raw))
                    status = receiver.statuses[min(len(receiver.received), len(receiver.statuses)) - 1]
                self.send_response(status)
                body = b'{"error": "down for maintenance"}' if status >= 300 else b"ok"
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def verified(self, secrets: list[str] | None = None) -> list[dict[str, Any]]:
        """Every delivery, checked by the Standard Webhooks library on the raw body with one of the
        receiver's secrets (raises WebhookVerificationError if one does not verify)."""
        return [self._verify(item, secrets or self.secrets) for item in self.received]

    @staticmethod
    def _verify(item: Received, secrets: list[str]) -> dict[str, Any]:
        for secret in secrets[:-1]:
            try:
                return Webhook(secret).verify(item.body, item.headers)
            except WebhookVerificationError:
                continue
        return Webhook(secrets[-1]).verify(item.body, item.headers)


def until(condition: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


def deliveries(api: ApiClient, webhook_id: str) -> list[dict[str, Any]]:
    return api.get(f"/webhooks/{webhook_id}/deliveries")["items"]


def settled(api: ApiClient, webhook_id: str, event_type: str, status: str) -> dict[str, Any] | None:
    return next(
        (item for item in deliveries(api, webhook_id) if item["eventType"] == event_type and item["status"] == status),
        None,
    )


@dataclass
class Scenario:
    asset_id: str
    mallorys_asset: str
    receivers: dict[str, Receiver]
    webhooks: dict[str, str]
    outbox_before_sweep: list[dict[str, Any]]
    sns_events: list[dict[str, Any]]
    test_delivery: dict[str, Any]


@pytest.fixture(scope="module")
def scenario(
    stack: Stack,
    alice: ApiClient,
    mallory: ApiClient,
    events_queue: Callable[[], list[dict[str, Any]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scenario]:
    events_queue()  # subscribed before anything happens
    receivers = {
        "alice": Receiver([200]),
        "flaky": Receiver([503, 503, 503, 200]),  # down for its first three attempts
        "broken": Receiver([500]),  # forever
        "mallory": Receiver([200]),
    }
    with ExitStack() as restore:
        restore.enter_context(stack.function_environment("WebhookDeliverFunction"))(
            {"WEBHOOK_RETRY_SCHEDULE": SCHEDULE}
        )
        restore.enter_context(stack.function_environment("PublishFunction"))({"FAULT_INJECTION": "crash:asset.ready"})
        # Only the sweep below publishes what the crash leaves: not the schedule, whenever it runs.
        restore.enter_context(stack.function_environment("OutboxSweeperFunction"))({"OUTBOX_GRACE_SECONDS": "3600"})

        made = {
            "alice": alice.post("/webhooks", {"url": receivers["alice"].url, "description": "every event"}),
            "flaky": alice.post("/webhooks", {"url": receivers["flaky"].url, "events": ["asset.updated"]}),
            "broken": alice.post("/webhooks", {"url": receivers["broken"].url, "events": ["asset.updated"]}),
            "mallory": mallory.post("/webhooks", {"url": receivers["mallory"].url}),
        }
        for name, answer in made.items():
            assert answer["secret"].startswith("whsec_")
            receivers[name].secrets.append(answer["secret"])
        webhooks = {name: answer["webhookId"] for name, answer in made.items()}

        folder = tmp_path_factory.mktemp("webhooks")
        clip = generate_clip(folder / "beach.mp4", seconds=2, width=640, height=360)
        uploaded = Uploader(alice, "webhooks-test", state=StateStore(folder / "state")).upload(clip, resume="never")
        asset_id = uploaded["assetId"]
        assert wait_for_asset(alice, asset_id, timeout=240)["status"] == "ready"

        # Publish died after its write: asset.ready waits in the outbox. The sweeper publishes it.
        table = stack.outputs["outboxTableName"]
        items = stack.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
        outbox = [json.loads(item["document"]["S"]) for item in items]
        lam = stack.client("lambda")
        swept = lam.invoke(
            FunctionName=stack.function_name("OutboxSweeperFunction"), Payload=json.dumps({"olderThanSeconds": 0})
        )
        assert "FunctionError" not in swept, swept["Payload"].read()

        # The old secret keeps signing beside the new one while the receiver switches; asset.playable,
        # delivered before the rotation, is signed by the first secret alone.
        playable = lambda: "asset.playable" in {doc["type"] for doc in receivers["alice"].verified()}  # noqa: E731
        until(playable, "alice's asset.playable")
        rotated = alice.post(f"/webhooks/{webhooks['alice']}/rotate-secret", {})
        receivers["alice"].secrets.append(rotated["secret"])
        alice.patch(f"/assets/{asset_id}", {"title": "Beach, edited"})
        mallorys_asset = mallory.post("/uploads", {"filename": "m.mp4", "size": 1000, "contentType": "video/mp4"})
        mallory.patch(f"/assets/{mallorys_asset['assetId']}", {"title": "mine"})
        test_delivery = alice.post(f"/webhooks/{webhooks['alice']}/test", {})

        until(lambda: settled(alice, webhooks["flaky"], "asset.updated", "delivered"), "the flaky receiver's delivery")
        until(lambda: settled(alice, webhooks["broken"], "asset.updated", "failed"), "the broken receiver's failure")
        wanted = {"asset.playable", "asset.ready", "asset.updated", "webhook.test"}
        until(lambda: wanted <= {doc["type"] for doc in receivers["alice"].verified()}, "alice's four events")
        until(lambda: receivers["mallory"].received, "mallory's event")
        time.sleep(3)  # grace: a duplicate would have arrived by now
        sns_events = [doc for doc in events_queue() if doc.get("assetId") == asset_id]
        yield Scenario(asset_id, mallorys_asset["assetId"], receivers, webhooks, outbox, sns_events, test_delivery)


def test_a_receiver_gets_its_owners_events_each_verified_and_nobody_elses(scenario: Scenario) -> None:
    alice = scenario.receivers["alice"].verified()  # the standardwebhooks package verifies each one
    assert {doc["assetId"] for doc in alice if doc["type"].startswith("asset.")} == {scenario.asset_id}
    types = [doc["type"] for doc in alice]
    assert {"asset.playable", "asset.ready", "asset.updated"} <= set(types)
    # Deliveries run side by side and may arrive in any order (as Standard Webhooks allows); what
    # happened first says so in the event itself.
    occurred = {doc["type"]: doc["occurredAt"] for doc in alice}
    assert occurred["asset.playable"] <= occurred["asset.ready"], occurred
    assert all(doc["ownerId"] == "alice" for doc in alice)
    for item in scenario.receivers["alice"].received:
        assert item.headers["webhook-id"] == item.document["eventId"]
    mallory = scenario.receivers["mallory"].verified()
    assert [(doc["type"], doc["assetId"]) for doc in mallory] == [("asset.updated", scenario.mallorys_asset)]
    with pytest.raises(WebhookVerificationError):  # signed with her own secret, not alice's
        scenario.receivers["mallory"].verified(scenario.receivers["alice"].secrets)


def test_a_rotated_secret_keeps_verifying_beside_the_new_one(scenario: Scenario) -> None:
    receiver = scenario.receivers["alice"]
    updated = [item for item in receiver.received if item.document["type"] == "asset.updated"]
    assert len({item.headers["webhook-id"] for item in updated}) == 1  # one event (at least once: maybe twice)
    assert len(updated[0].headers["webhook-signature"].split()) == 2
    first, rotated = receiver.secrets
    for secret in (first, rotated):
        Webhook(secret).verify(updated[0].body, updated[0].headers)
    before = [item for item in receiver.received if item.document["type"] == "asset.playable"]
    with pytest.raises(WebhookVerificationError):  # sent before the rotation: the new secret did not sign it
        Webhook(rotated).verify(before[0].body, before[0].headers)


def test_a_receiver_down_for_its_first_three_attempts_gets_the_delivery_later(
    alice: ApiClient, scenario: Scenario
) -> None:
    receiver = scenario.receivers["flaky"]
    assert len(receiver.received) >= 4  # four attempts (a queue may hand one out twice)
    assert len({item.headers["webhook-id"] for item in receiver.received}) == 1  # one event
    assert len({item.body for item in receiver.received}) == 1
    receiver.verified()
    delivery = settled(alice, scenario.webhooks["flaky"], "asset.updated", "delivered")
    assert [attempt["responseStatus"] for attempt in delivery["attempts"]] == [503, 503, 503, 200]
    assert delivery["attempts"][0]["responseBody"] == '{"error": "down for maintenance"}'


def test_a_receiver_answering_500_forever_ends_in_a_failed_delivery_with_its_attempts(
    alice: ApiClient, scenario: Scenario
) -> None:
    webhook_id = scenario.webhooks["broken"]
    delivery = settled(alice, webhook_id, "asset.updated", "failed")
    assert [attempt["attempt"] for attempt in delivery["attempts"]] == [1, 2, 3, 4]
    assert {attempt["responseStatus"] for attempt in delivery["attempts"]} == {500}
    assert all(attempt["latencyMs"] >= 0 and attempt["at"] for attempt in delivery["attempts"])
    assert delivery["lastResponseStatus"] == 500 and "nextAttemptAt" not in delivery
    assert len(scenario.receivers["broken"].received) >= 4

    # By hand: once more now, with a fresh schedule: a fifth attempt is made and listed.
    retried = alice.post(f"/webhooks/{webhook_id}/deliveries/{delivery['deliveryId']}/retry", {})
    assert (retried["deliveryId"], retried["status"]) == (delivery["deliveryId"], "pending")
    again = until(
        lambda: next((item for item in deliveries(alice, webhook_id) if item["attemptCount"] >= 5), None),
        "the retried delivery's fifth attempt",
    )
    assert again["attempts"][4]["attempt"] == 5 and again["attempts"][4]["responseStatus"] == 500


def test_an_event_whose_function_died_before_publishing_arrives_once(scenario: Scenario) -> None:
    ready_in_outbox = [doc for doc in scenario.outbox_before_sweep if doc.get("assetId") == scenario.asset_id]
    assert [doc["type"] for doc in ready_in_outbox] == ["asset.ready"]  # the crash left it there, only it
    event_id = ready_in_outbox[0]["eventId"]
    on_the_topic = [doc for doc in scenario.sns_events if doc["type"] == "asset.ready"]
    assert [doc["eventId"] for doc in on_the_topic] == [event_id]
    webhook = [item for item in scenario.receivers["alice"].received if item.document["type"] == "asset.ready"]
    assert {item.headers["webhook-id"] for item in webhook} == {event_id}  # once (or again with the same id)
    every_id = [doc["eventId"] for doc in scenario.sns_events]
    assert len(every_id) == len(set(every_id))  # nothing else came twice either


def test_the_test_route_delivers_a_signed_test_event(alice: ApiClient, scenario: Scenario) -> None:
    tests = [doc for doc in scenario.receivers["alice"].verified() if doc["type"] == "webhook.test"]
    assert [doc["eventId"] for doc in tests] == [scenario.test_delivery["eventId"]]
    assert tests[0]["webhookId"] == scenario.webhooks["alice"]


def test_registration_refuses_private_addresses_even_with_the_development_switch(alice: ApiClient) -> None:
    for url in ("https://10.0.0.1/hook", "https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/"):
        with pytest.raises(ApiError) as refused:
            alice.post("/webhooks", {"url": url})
        assert (refused.value.status, refused.value.code) == (400, "UnsafeUrl"), url


def test_nobody_sees_anothers_webhooks(alice: ApiClient, mallory: ApiClient, scenario: Scenario) -> None:
    mine = scenario.webhooks["alice"]
    for method, path in (("GET", f"/webhooks/{mine}"), ("GET", f"/webhooks/{mine}/deliveries"),
                         ("POST", f"/webhooks/{mine}/test")):  # fmt: skip
        with pytest.raises(ApiError) as refused:
            mallory.request(method, path, {} if method == "POST" else None)
        assert (refused.value.status, refused.value.code) == (404, "WebhookNotFound")
    assert mine not in {item["webhookId"] for item in mallory.get("/webhooks")["items"]}
    assert mine in {item["webhookId"] for item in alice.get("/webhooks")["items"]}
