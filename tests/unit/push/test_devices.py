"""Registering, listing and removing phones (SNS platform endpoints on moto)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from reelstack.push import devices as push
from reelstack.store.records import DeviceModel
from tests.unit.conftest import call
from tests.unit.push.conftest import APNS_TOKEN, FCM_TOKEN, endpoint_attributes, endpoint_of, register


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
    platforms: dict[str, str], setenv: Callable[..., None]
) -> None:
    setenv(FCM_PLATFORM_APPLICATION_ARN="")
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


def test_a_device_follows_the_deployment_to_another_platform_application(
    platforms: dict[str, str], setenv: Callable[..., None]
) -> None:
    _, device = register()
    sandbox_endpoint = endpoint_of(device["deviceId"])
    production = boto3.client("sns").create_platform_application(
        Name="unit-apns-production", Platform="APNS", Attributes={"PlatformPrincipal": "p", "PlatformCredential": "c"}
    )["PlatformApplicationArn"]
    setenv(APNS_PLATFORM_APPLICATION_ARN=production)
    status, again = register()
    assert (status, again["deviceId"]) == (200, device["deviceId"])
    assert endpoint_of(device["deviceId"]).startswith(production.replace(":app/", ":endpoint/"))
    assert endpoint_attributes(sandbox_endpoint) is None
