"""Pushes for asset.ready and asset.failed, one per device, in each platform's format."""

from __future__ import annotations

import boto3

from reelstack.ids import new_id
from reelstack.media import identify
from tests.unit.conftest import call
from tests.unit.push.conftest import endpoint_attributes, notify, pushes_to, terminal_asset


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
    assert ios["aps"]["alert"]["body"] == f"IMG_0042.MOV: {identify.UNKNOWN.sentence}"  # the sample's reason
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
