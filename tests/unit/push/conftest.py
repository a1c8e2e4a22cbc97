"""The push tests' world: platform applications, devices, terminal assets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from reelstack.ids import new_id
from reelstack.media import identify
from reelstack.store.records import AssetModel, DeviceModel, ErrorAttribute, SourceAttribute, utc_now
from tests.unit.conftest import call, load_event, load_handler

APNS_TOKEN = "5f1e0c7a" * 8


FCM_TOKEN = "fcm-token_" + "a1B2:c3D4-" * 15


@pytest.fixture
def platforms(aws: None, setenv: Callable[..., None]) -> dict[str, str]:
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
        setenv(**{variable: arns[platform]})
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


def terminal_asset(status: str, owner: str = "alice", title: str | None = "Sunset at the pier") -> str:
    asset_id = new_id()
    AssetModel(
        asset_id,
        owner_id=owner,
        status=status,
        title=title,
        created_at=utc_now(),
        source=SourceAttribute(filename="IMG_0042.MOV", size=1, content_type="video/quicktime"),
        # As the sample asset.failed event announces it: the probe's refusal of a file that is no media.
        error=ErrorAttribute(code="NotMedia", message=identify.UNKNOWN.sentence) if status == "failed" else None,
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
