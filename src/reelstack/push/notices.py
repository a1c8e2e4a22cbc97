"""Pushes: the notify function takes ``asset.ready`` and ``asset.failed`` from the events topic and
sends each of the owner's devices one push in its platform's format. Endpoints that APNs or FCM
disabled (app uninstalled, token expired) are deleted with their device instead of being retried."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from reelstack import aws
from reelstack.push.devices import ENDPOINT_GONE, forget
from reelstack.store.records import AssetModel, DeviceModel
from reelstack.store.states import AssetStatus

_BODY_CHARACTERS = 180  # APNs refuses payloads over 4 kB; a lock screen shows about two lines anyway


@dataclass(frozen=True)
class Notice:
    """What a terminal state tells the owner."""

    asset_id: str
    owner_id: str
    status: str  # "ready" | "failed"
    title: str
    body: str
    error_code: str | None = None

    def message(self) -> str:
        """The SNS ``MessageStructure=json`` document: each platform's payload under its key."""
        data = {"assetId": self.asset_id, "status": self.status}
        if self.error_code:
            data["errorCode"] = self.error_code
        apns = {
            "aps": {"alert": {"title": self.title, "body": self.body}, "sound": "default", "thread-id": "assets"},
            **data,
        }
        fcm = {
            "fcmV1Message": {
                "message": {
                    "notification": {"title": self.title, "body": self.body},
                    "data": data,  # FCM data values are strings
                    "android": {"priority": "high", "collapse_key": self.asset_id},
                }
            }
        }
        return json.dumps(
            {
                "default": f"{self.title}: {self.body}",
                "APNS": json.dumps(apns),
                "APNS_SANDBOX": json.dumps(apns),
                "GCM": json.dumps(fcm),
            }
        )


def notice_for(event: dict[str, Any]) -> Notice | None:
    """The notice for an ``asset.ready`` or ``asset.failed`` event; None if the asset is gone."""
    try:
        asset = AssetModel.get(event["assetId"])
    except DoesNotExist:
        return None
    if asset.status not in (AssetStatus.READY, AssetStatus.FAILED) or not asset.owner_id:
        return None  # deleted since, or not terminal after all
    name = asset.title or (asset.source.filename if asset.source else None) or "Untitled"
    if asset.status == AssetStatus.READY:
        title, body, error_code = "Your video is ready", name, None
    else:
        error = asset.error.message if asset.error else "it could not be processed"
        title, body, error_code = (
            "Your video could not be processed",
            f"{name}: {error}",
            asset.error.code if asset.error else None,
        )
    return Notice(asset.asset_id, asset.owner_id, asset.status, title, _shorten(body), error_code)


def devices_of(owner_id: str) -> list[DeviceModel]:
    return list(DeviceModel.by_owner.query(owner_id))


def send(device: DeviceModel, message: str) -> dict[str, Any]:
    """One push to one device; a device whose endpoint is disabled or gone is removed instead."""
    try:
        answer = aws.client("sns").publish(TargetArn=device.endpoint_arn, MessageStructure="json", Message=message)
    except ClientError as error:
        verdict = "NotFound" if "No endpoint found" in str(error) else aws.error_code(error)
        if verdict not in ENDPOINT_GONE:
            raise
        forget(device)
        return {"deviceId": device.device_id, "removed": verdict}
    return {"deviceId": device.device_id, "messageId": answer["MessageId"]}


def _shorten(text: str) -> str:
    return text if len(text) <= _BODY_CHARACTERS else text[: _BODY_CHARACTERS - 1] + "…"
