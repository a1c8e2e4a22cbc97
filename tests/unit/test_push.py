"""Devices and pushes on moto: the API handler and the notify handler driven by their sample events."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from reelstack import config, push
from reelstack.ids import new_id
from reelstack.models import AssetModel, DeviceModel, ErrorAttribute, SourceAttribute, utc_now
from tests.unit.conftest import load_event, load_handler
from tests.unit.test_uploads import call

APNS_TOKEN = "5f1e0c7a" * 8
FCM_TOKEN = "fcm-token_" + "a1B2:c3D4-" * 15


@pytest.fixture
def platforms(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A platform application per platform, named to the API as the template's parameters do."""
    sns = boto3.client("sns")
    arns = {}
    for platform, kind, variable in (
        ("apns", "APNS_SANDBOX", "APNS_PLATFORM_APPLICATION_ARN"),
        ("fcm", "GCM", "FCM_PLATFORM_APPLICATION_ARN"),
    ):
        arns[platform] = sns.create_platform_application(
            Name=f"unit-{platform}", Platform=kind, Attributes={"PlatformPrincipal": "p", "PlatformCredential": "c"}
        )["PlatformApplicationArn"]
        monkeypatch.setenv(variable, arns[platform])
    config.deployment.cache_clear()
    return arns


def register(user: str = "alice", platform: str = "apns", token: str = APNS_TOKEN) -> tuple[int, Any]:
    return call("register-device", user=user, body={"platform": platform, "token": token})


def endpoint_of(device_id: str) -> str:
    return DeviceModel.get(device_id).endpoint_arn


def endpoint_attributes(arn: str) -> dict[str, str] | None:
    try:
        return boto3.client("sns").get_endpoint_attributes(EndpointArn=arn)["Attributes"]
    except boto3.client("sns").exceptions.NotFoundException:
        return None


def pushes_to(arn: str) -> list[dict[str, Any]]:
    """What SNS sent the endpoint, as the endpoint's platform sees it (its key of the JSON message)."""
    endpoint = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints.get(arn)
    if endpoint is None:
        return []
    key = "GCM" if "/GCM/" in arn else "APNS_SANDBOX"
    return [json.loads(json.loads(message)[key]) for message in endpoint.messages.values()]


# -- registering devices ---------------------------------------------------------------------------


def test_a_phone_registers_once_however_often_the_app_sends_its_token(platforms: dict[str, str]) -> None:
    status, first = register()
    assert status == 201, first
    assert first["platform"] == "apns"
    assert len(first["deviceId"]) == 26
    assert APNS_TOKEN not in json.dumps(first)  # the token is not echoed back
    status, again = register(token=APNS_TOKEN.upper())  # the same APNs token in capitals
    assert status == 200
    assert again["deviceId"] == first["deviceId"]
    assert again["createdAt"] == first["createdAt"]
    status, listed = call("list-devices")
    assert status == 200
    assert [device["deviceId"] for device in listed["devices"]] == [first["deviceId"]]
    endpoints = boto3.client("sns").list_endpoints_by_platform_application(PlatformApplicationArn=platforms["apns"])
    assert len(endpoints["Endpoints"]) == 1
    assert endpoints["Endpoints"][0]["Attributes"]["Token"] == APNS_TOKEN


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"platform": "apns", "token": "not hex, but long enough: " + "z" * 40}, "InvalidField"),
        ({"platform": "apns", "token": "ab" * 20}, "InvalidField"),  # too short for APNs
        ({"platform": "fcm", "token": "<script>alert(1)</script>" * 3}, "InvalidField"),
        ({"platform": "fcm", "token": "x" * 5000}, "InvalidField"),
        ({"platform": "wns", "token": APNS_TOKEN}, "InvalidField"),
        ({"platform": "apns"}, "MissingField"),
        ({"platform": "apns", "token": 42}, "InvalidField"),
    ],
)
def test_tokens_that_are_not_the_platforms_are_refused(
    platforms: dict[str, str], body: dict[str, Any], code: str
) -> None:
    status, answer = call("register-device", body=body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert call("list-devices")[1] == {"devices": []}


def test_a_platform_the_deployment_has_no_application_for_is_refused_clearly(
    platforms: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FCM_PLATFORM_APPLICATION_ARN", "")
    config.deployment.cache_clear()
    status, answer = register(platform="fcm", token=FCM_TOKEN)
    assert (status, answer["error"]["code"]) == (400, "PlatformNotConfigured")


def test_someone_elses_device_is_not_found_and_a_token_belongs_to_its_last_account(platforms: dict[str, str]) -> None:
    _, device = register("alice")
    status, answer = call("remove-device", user="mallory", device_id=device["deviceId"])
    assert (status, answer["error"]["code"]) == (404, "DeviceNotFound")
    assert endpoint_attributes(endpoint_of(device["deviceId"])) is not None
    # The phone signs in to another account: it stops being alice's.
    status, moved = register("mallory")
    assert status == 201
    assert moved["deviceId"] == device["deviceId"]
    assert call("list-devices", user="alice")[1] == {"devices": []}
    assert [d["deviceId"] for d in call("list-devices", user="mallory")[1]["devices"]] == [device["deviceId"]]


def test_removing_a_device_deletes_its_endpoint(platforms: dict[str, str]) -> None:
    _, device = register()
    arn = endpoint_of(device["deviceId"])
    status, _ = call("remove-device", device_id=device["deviceId"])
    assert status == 204
    assert endpoint_attributes(arn) is None
    assert call("list-devices")[1] == {"devices": []}
    assert call("remove-device", device_id=device["deviceId"])[0] == 404


def test_an_account_has_a_bounded_number_of_devices(platforms: dict[str, str]) -> None:
    for number in range(push.MAX_DEVICES_PER_OWNER):
        assert register(token=f"{number:064x}")[0] == 201
    status, answer = register(token="f" * 64)
    assert (status, answer["error"]["code"]) == (409, "TooManyDevices")
    assert register(token=f"{0:064x}")[0] == 200  # re-registering one it has is fine


def test_registering_again_revives_an_endpoint_the_platform_disabled(platforms: dict[str, str]) -> None:
    _, device = register()
    arn = endpoint_of(device["deviceId"])
    boto3.client("sns").set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false"})
    assert register()[0] == 200
    assert endpoint_attributes(arn)["Enabled"] == "true"
    # ... and if the record was lost, the endpoint SNS still has for the token is found and enabled.
    boto3.client("sns").set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false"})
    DeviceModel.get(device["deviceId"]).delete()
    assert register()[0] == 201
    assert endpoint_of(device["deviceId"]) == arn
    assert endpoint_attributes(arn)["Enabled"] == "true"


# -- pushes ----------------------------------------------------------------------------------------


def terminal_asset(status: str, owner: str = "alice", title: str | None = "Sunset at the pier") -> str:
    asset_id = new_id()
    AssetModel(
        asset_id,
        owner_id=owner,
        status=status,
        title=title,
        created_at=utc_now(),
        source=SourceAttribute(filename="IMG_0042.MOV", size=1, content_type="video/quicktime"),
        error=ErrorAttribute(code="NotMedia", message="the file is not audio or video") if status == "failed" else None,
    ).save()
    return asset_id


def notify(event_name: str, asset_id: str) -> list[dict[str, Any]]:
    event = load_event(f"notify/{event_name}.json")
    document = json.loads(event["Records"][0]["Sns"]["Message"])
    event["Records"][0]["Sns"]["Message"] = json.dumps({**document, "assetId": asset_id})
    return load_handler("notify")(event, None)


@pytest.fixture
def phones(platforms: dict[str, str]) -> dict[str, str]:
    """alice's iPhone and Android phone, and mallory's iPhone: their endpoint ARNs."""
    devices = {
        "alice-ios": register("alice")[1],
        "alice-android": register("alice", "fcm", FCM_TOKEN)[1],
        "mallory-ios": register("mallory", token="9" * 64)[1],
    }
    return {name: endpoint_of(device["deviceId"]) for name, device in devices.items()}


def test_ready_pushes_each_of_the_owners_phones_once_in_its_platforms_format(phones: dict[str, str]) -> None:
    asset_id = terminal_asset("ready")
    outcomes = notify("asset-ready", asset_id)
    assert len(outcomes) == 2
    [ios] = pushes_to(phones["alice-ios"])
    assert ios["aps"]["alert"] == {"title": "Your video is ready", "body": "Sunset at the pier"}
    assert (ios["assetId"], ios["status"]) == (asset_id, "ready")
    [android] = pushes_to(phones["alice-android"])
    message = android["fcmV1Message"]["message"]
    assert message["notification"] == {"title": "Your video is ready", "body": "Sunset at the pier"}
    assert message["data"] == {"assetId": asset_id, "status": "ready"}
    assert all(isinstance(value, str) for value in message["data"].values())
    assert pushes_to(phones["mallory-ios"]) == []
    # SNS delivers the same event again: nobody is told twice.
    notify("asset-ready", asset_id)
    assert len(pushes_to(phones["alice-ios"])) == len(pushes_to(phones["alice-android"])) == 1


def test_failed_pushes_the_reason(phones: dict[str, str]) -> None:
    asset_id = terminal_asset("failed", title=None)
    notify("asset-failed", asset_id)
    [ios] = pushes_to(phones["alice-ios"])
    assert ios["aps"]["alert"]["title"] == "Your video could not be processed"
    assert ios["aps"]["alert"]["body"] == "IMG_0042.MOV: the file is not audio or video"
    assert (ios["status"], ios["errorCode"]) == ("failed", "NotMedia")
    [android] = pushes_to(phones["alice-android"])
    assert android["fcmV1Message"]["message"]["data"]["errorCode"] == "NotMedia"


def test_a_disabled_endpoint_is_removed_with_its_device_not_retried(phones: dict[str, str]) -> None:
    sns = boto3.client("sns")
    sns.set_endpoint_attributes(EndpointArn=phones["alice-ios"], Attributes={"Enabled": "false"})
    outcomes = notify("asset-ready", terminal_asset("ready"))
    assert {outcome.get("removed") for outcome in outcomes} == {"EndpointDisabled", None}
    assert endpoint_attributes(phones["alice-ios"]) is None
    assert [device["platform"] for device in call("list-devices")[1]["devices"]] == ["fcm"]
    assert len(pushes_to(phones["alice-android"])) == 1


def test_a_long_title_is_shortened_and_a_deleted_asset_pushes_nothing(phones: dict[str, str]) -> None:
    notify("asset-ready", terminal_asset("ready", title="Ü" * 500))
    [ios] = pushes_to(phones["alice-ios"])
    assert len(ios["aps"]["alert"]["body"]) == 180
    assert notify("asset-ready", terminal_asset("deleted")) == []
    assert notify("asset-ready", new_id()) == []
    assert len(pushes_to(phones["alice-ios"])) == 1


def test_a_device_follows_the_deployment_to_another_platform_application(
    platforms: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, device = register()
    sandbox_endpoint = endpoint_of(device["deviceId"])
    production = boto3.client("sns").create_platform_application(
        Name="unit-apns-production", Platform="APNS", Attributes={"PlatformPrincipal": "p", "PlatformCredential": "c"}
    )["PlatformApplicationArn"]
    monkeypatch.setenv("APNS_PLATFORM_APPLICATION_ARN", production)
    config.deployment.cache_clear()
    status, again = register()
    assert (status, again["deviceId"]) == (200, device["deviceId"])
    assert endpoint_of(device["deviceId"]).startswith(production.replace(":app/", ":endpoint/"))
    assert endpoint_attributes(sandbox_endpoint) is None
