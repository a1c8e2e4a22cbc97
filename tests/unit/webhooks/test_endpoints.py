"""Webhook endpoints through the API handler: registration (with the URL guard), the owner's view,
secret rotation, and the routes below an endpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reelstack import netguard
from reelstack.store.records import WebhookModel
from reelstack.webhooks import endpoints
from tests.unit.conftest import Cloud, call

PUBLIC = {"hooks.example.com": ["93.184.215.14"], "sneaky.example.com": ["10.9.8.7"]}


@pytest.fixture
def names() -> Any:
    previous = netguard.use_resolver(lambda host, port: PUBLIC.get(host, []))
    yield
    netguard.use_resolver(previous)


def create(url: str = "https://hooks.example.com/in", **fields: Any) -> tuple[int, dict[str, Any]]:
    return call("create-webhook", body={"url": url, **fields})


@pytest.mark.usefixtures("names")
def test_an_endpoint_is_created_with_a_secret_shown_once(cloud: Cloud) -> None:
    status, made = create(events=["asset.ready", "asset.playable"], description="our backend")
    assert status == 201 and made["secret"].startswith("whsec_")
    assert (made["events"], made["enabled"], made["description"]) == (["asset.playable", "asset.ready"], True,
                                                                       "our backend")  # fmt: skip
    status, shown = call("get-webhook", webhook_id=made["webhookId"])
    assert status == 200 and "secret" not in shown and shown["url"] == "https://hooks.example.com/in"
    status, listed = call("list-webhooks")
    assert [item["webhookId"] for item in listed["items"]] == [made["webhookId"]]
    assert "secret" not in listed["items"][0]


@pytest.mark.usefixtures("names")
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "https://10.0.0.1/", "https://169.254.169.254/", "https://[::1]/",
            "https://sneaky.example.com/", "http://hooks.example.com/"],
)  # fmt: skip
def test_registration_refuses_what_is_not_public_https(aws: None, url: str) -> None:
    status, answer = create(url)
    assert (status, answer["error"]["code"]) == (400, "UnsafeUrl"), answer
    assert WebhookModel.count() == 0


@pytest.mark.usefixtures("names")
def test_the_development_switch_lets_loopback_register_and_nothing_else(aws: None, setenv: Callable[..., None]) -> None:
    setenv(ALLOW_LOOPBACK_URLS="on")
    assert create("http://127.0.0.1:9000/hook")[0] == 201
    assert create("https://[::1]/hook")[0] == 201
    for url in ("https://10.0.0.1/", "https://169.254.169.254/", "https://sneaky.example.com/"):
        assert create(url)[1]["error"]["code"] == "UnsafeUrl"


@pytest.mark.usefixtures("names")
def test_bad_requests_are_refused_by_name(aws: None) -> None:
    assert create(events=["asset.exploded"])[1]["error"]["code"] == "UnknownEventType"
    assert create(events=["webhook.test"])[1]["error"]["code"] == "UnknownEventType"
    assert create("not a url")[1]["error"]["code"] == "InvalidUrl"
    status, answer = call("create-webhook", body={"events": ["asset.ready"]})
    assert (status, answer["error"]["code"]) == (400, "MissingField")


@pytest.mark.usefixtures("names")
def test_an_owner_has_at_most_twenty(aws: None) -> None:
    for _ in range(endpoints.MAX_WEBHOOKS_PER_OWNER):
        assert create()[0] == 201
    status, answer = create()
    assert (status, answer["error"]["code"]) == (409, "TooManyWebhooks")


@pytest.mark.usefixtures("names")
def test_others_endpoints_are_not_found_on_any_route(cloud: Cloud) -> None:
    _, made = create()
    webhook_id = made["webhookId"]
    for route in ("get-webhook", "update-webhook", "delete-webhook", "rotate-webhook-secret", "test-webhook",
                  "list-webhook-deliveries"):  # fmt: skip
        status, answer = call(route, user="mallory", webhook_id=webhook_id)
        assert (status, answer["error"]["code"]) == (404, "WebhookNotFound"), route
    status, answer = call("retry-webhook-delivery", user="mallory", webhook_id=webhook_id,
                          delivery_id="01kddddddddddddddddddddddd")  # fmt: skip
    assert status == 404
    assert call("get-webhook", webhook_id=webhook_id)[0] == 200


@pytest.mark.usefixtures("names")
def test_patch_changes_what_it_names_and_delete_removes(cloud: Cloud) -> None:
    _, made = create(events=["asset.ready"])
    webhook_id = made["webhookId"]
    status, changed = call("update-webhook", webhook_id=webhook_id)  # the sample: events null, a description
    assert status == 200 and (changed["events"], changed["description"]) == (None, "every event")
    status, answer = call("update-webhook", webhook_id=webhook_id, body={"url": "https://sneaky.example.com/"})
    assert (status, answer["error"]["code"]) == (400, "UnsafeUrl")
    status, changed = call("update-webhook", webhook_id=webhook_id, body={"enabled": False})
    assert (changed["enabled"], changed["disabledReason"]) == (False, "disabled by its owner")
    status, changed = call("update-webhook", webhook_id=webhook_id, body={"enabled": True})
    assert changed["enabled"] is True and "disabledReason" not in changed
    assert call("delete-webhook", webhook_id=webhook_id)[0] == 204
    assert call("get-webhook", webhook_id=webhook_id)[0] == 404


@pytest.mark.usefixtures("names")
def test_a_rotated_secret_signs_beside_the_new_one_for_the_overlap(cloud: Cloud, setenv: Callable[..., None]) -> None:
    setenv(WEBHOOK_SECRET_OVERLAP_SECONDS="3600")
    _, made = create()
    status, rotated = call("rotate-webhook-secret", webhook_id=made["webhookId"])
    assert status == 200 and rotated["secret"] != made["secret"] and rotated["secret"].startswith("whsec_")
    endpoint = WebhookModel.get(made["webhookId"])
    now = datetime.now(UTC)
    assert [s.value for s in endpoints.live_secrets_of(endpoint, now)] == [rotated["secret"], made["secret"]]
    later = now + timedelta(seconds=3601)
    assert [s.value for s in endpoints.live_secrets_of(endpoint, later)] == [rotated["secret"]]
    assert (
        call("get-webhook", webhook_id=made["webhookId"])[1]["previousSecretExpiresAt"]
        == rotated["previousSecretExpiresAt"]
    )
