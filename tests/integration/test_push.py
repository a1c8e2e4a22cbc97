"""Push notifications on the local cloud: phones registered through the API as SNS platform
endpoints, the pipeline's terminal states pushed to them, read back from what LocalStack records
for each endpoint (``/_aws/sns/platform-endpoint-messages``)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
import urllib3

from reelstack_cli.api_client import ApiClient, ApiError
from reelstack_cli.media import generate_clip
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset
from tests.integration.conftest import Stack

pytestmark = pytest.mark.localcloud


def apns_token() -> str:
    return secrets.token_hex(32)


def fcm_token() -> str:
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(100)}"


def pushes(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Every endpoint's received pushes, as its platform got them (the platform's key of the message)."""
    answer = urllib3.request("GET", f"{stack.settings.endpoint}/_aws/sns/platform-endpoint-messages")
    return {
        arn: [_document(message["Message"]) for message in messages]
        for arn, messages in answer.json()["platform_endpoint_messages"].items()
    }


def _document(text: Any) -> dict[str, Any]:
    while isinstance(text, str):  # the platform's payload is a JSON string inside the record's JSON
        text = json.loads(text)
    return text


def pushes_about(stack: Stack, asset_id: str, expected_endpoints: int, timeout: float = 30) -> dict[str, list[dict]]:
    """{endpoint ARN: pushes that name the asset}, once ``expected_endpoints`` endpoints have one,
    and after a grace period in which a duplicate would have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        about = {arn: [push for push in got if asset_of(push) == asset_id] for arn, got in pushes(stack).items()}
        about = {arn: got for arn, got in about.items() if got}
        if len(about) >= expected_endpoints or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(3)
    about = {arn: [push for push in got if asset_of(push) == asset_id] for arn, got in pushes(stack).items()}
    return {arn: got for arn, got in about.items() if got}


def asset_of(push: dict[str, Any]) -> str | None:
    return push.get("assetId") or push.get("fcmV1Message", {}).get("message", {}).get("data", {}).get("assetId")


def token_of(stack: Stack, endpoint_arn: str) -> str:
    return stack.client("sns").get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]["Token"]


def endpoint_for(stack: Stack, token: str) -> str:
    sns = stack.client("sns")
    for application in sns.list_platform_applications()["PlatformApplications"]:
        arn = application["PlatformApplicationArn"]
        for endpoint in sns.list_endpoints_by_platform_application(PlatformApplicationArn=arn)["Endpoints"]:
            if endpoint["Attributes"]["Token"] == token:
                return endpoint["EndpointArn"]
    raise AssertionError(f"no endpoint has token {token[:8]}...")


def uploaded(api: ApiClient, path: Path, state: Path) -> dict[str, Any]:
    answer = Uploader(api, "push-test", state=StateStore(state)).upload(path, content_type="video/mp4", resume="never")
    return wait_for_asset(api, answer["assetId"], timeout=180)


def test_each_terminal_state_pushes_each_of_the_owners_phones_once(
    stack: Stack, alice: ApiClient, mallory: ApiClient, tmp_path: Path
) -> None:
    tokens = {"ios": apns_token(), "android": fcm_token(), "old-ios": apns_token(), "mallory": apns_token()}
    assert alice.request("POST", "/devices", {"platform": "apns", "token": tokens["ios"]})["platform"] == "apns"
    alice.request("POST", "/devices", {"platform": "fcm", "token": tokens["android"]})
    alice.request("POST", "/devices", {"platform": "apns", "token": tokens["old-ios"]})
    mallory.request("POST", "/devices", {"platform": "apns", "token": tokens["mallory"]})
    alice_tokens = {tokens["ios"], tokens["android"], tokens["old-ios"]}

    clip = generate_clip(tmp_path / "beach.mp4", seconds=2, width=640, height=360)
    ready = uploaded(alice, clip, tmp_path / "state")
    assert ready["status"] == "ready"
    got = pushes_about(stack, ready["assetId"], expected_endpoints=3)
    assert {token_of(stack, arn) for arn in got} == alice_tokens  # mallory's phone is not among them
    assert all(len(received) == 1 for received in got.values()), got
    ios = got[endpoint_for(stack, tokens["ios"])][0]
    assert ios["aps"]["alert"] == {"title": "Your video is ready", "body": "beach"}
    assert (ios["assetId"], ios["status"]) == (ready["assetId"], "ready")
    android = got[endpoint_for(stack, tokens["android"])][0]["fcmV1Message"]["message"]
    assert android["notification"] == {"title": "Your video is ready", "body": "beach"}
    assert android["data"] == {"assetId": ready["assetId"], "status": "ready"}

    # APNs tells SNS the old phone's token is dead: SNS disables its endpoint.
    old_endpoint = endpoint_for(stack, tokens["old-ios"])
    stack.client("sns").set_endpoint_attributes(EndpointArn=old_endpoint, Attributes={"Enabled": "false"})

    garbage = tmp_path / "not-a-video.mp4"
    garbage.write_bytes(bytes(range(256)) * 400)
    failed = uploaded(alice, garbage, tmp_path / "state")
    assert (failed["status"], failed["error"]["code"]) == ("failed", "NotMedia")
    got = pushes_about(stack, failed["assetId"], expected_endpoints=2)
    assert {token_of(stack, arn) for arn in got} == {tokens["ios"], tokens["android"]}
    assert all(len(received) == 1 for received in got.values()), got
    ios = got[endpoint_for(stack, tokens["ios"])][0]
    assert ios["aps"]["alert"]["title"] == "Your video could not be processed"
    assert ios["aps"]["alert"]["body"].startswith("not-a-video: ")
    assert (ios["status"], ios["errorCode"]) == ("failed", "NotMedia")
    android = got[endpoint_for(stack, tokens["android"])][0]["fcmV1Message"]["message"]
    assert (android["data"]["status"], android["data"]["errorCode"]) == ("failed", "NotMedia")

    # The disabled endpoint was deleted with its device instead of being retried.
    assert old_endpoint not in got
    assert len(alice.request("GET", "/devices")["devices"]) == 2
    with pytest.raises(stack.client("sns").exceptions.NotFoundException):
        stack.client("sns").get_endpoint_attributes(EndpointArn=old_endpoint)
    assert not any(asset_of(push) for push in pushes(stack).get(endpoint_for(stack, tokens["mallory"]), []))


def test_devices_api_on_the_local_cloud(stack: Stack, alice: ApiClient, mallory: ApiClient) -> None:
    token = apns_token()
    first = alice.request("POST", "/devices", {"platform": "apns", "token": token})
    endpoint = endpoint_for(stack, token)
    again = alice.request("POST", "/devices", {"platform": "apns", "token": token.upper()})
    assert again["deviceId"] == first["deviceId"]
    assert endpoint_for(stack, token) == endpoint  # the same SNS endpoint, kept current
    assert token_of(stack, endpoint) == token

    with pytest.raises(ApiError) as refused:
        alice.request("POST", "/devices", {"platform": "apns", "token": "../../etc/passwd" * 5})
    assert (refused.value.status, refused.value.code) == (400, "InvalidField")
    with pytest.raises(ApiError) as refused:
        mallory.request("DELETE", f"/devices/{first['deviceId']}")
    assert (refused.value.status, refused.value.code) == (404, "DeviceNotFound")
    assert first["deviceId"] not in {device["deviceId"] for device in mallory.request("GET", "/devices")["devices"]}

    alice.request("DELETE", f"/devices/{first['deviceId']}")
    assert first["deviceId"] not in {device["deviceId"] for device in alice.request("GET", "/devices")["devices"]}
    with pytest.raises(stack.client("sns").exceptions.NotFoundException):
        stack.client("sns").get_endpoint_attributes(EndpointArn=endpoint)
