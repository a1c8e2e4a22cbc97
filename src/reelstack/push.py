"""Push notifications to owners' phones, through SNS mobile push.

Devices: ``POST /devices`` registers a phone's APNs or FCM token as an endpoint of the SNS platform
application the deployment names (template parameters). A token is one device whoever sends it:
its id derives from platform and token, and the account that registered it last owns it, so a
phone that changes accounts stops getting the previous account's pushes.

Pushes: the notify function takes ``asset.ready`` and ``asset.failed`` from the events topic and
sends each of the owner's devices one push in its platform's format. Endpoints that APNs or FCM
disabled (app uninstalled, token expired) are deleted with their device instead of being retried.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DeleteError, DoesNotExist

from reelstack import aws
from reelstack.api_models import RegisterDevice, parse_body
from reelstack.config import deployment
from reelstack.errors import Conflict, InvalidInput, NotFound
from reelstack.ids import derived_id
from reelstack.models import AssetModel, DeviceModel, utc_now
from reelstack.states import AssetStatus

MAX_DEVICES_PER_OWNER = 20
_BODY_CHARACTERS = 180  # APNs refuses payloads over 4 kB; a lock screen shows about two lines anyway
_GONE = {"EndpointDisabled", "NotFound"}  # SNS's verdicts on an endpoint that will never take a push again


# -- devices (the API) -----------------------------------------------------------------------------


def register(owner_id: str, raw_body: bytes | str | None) -> tuple[dict[str, Any], bool]:
    """Register (or re-register, as apps do at every launch) the caller's phone. Returns the device
    and whether it is new to this owner."""
    request = parse_body(RegisterDevice, raw_body)
    application = (deployment().push_applications or {}).get(request.platform)
    if not application:
        raise InvalidInput(f"this deployment sends no {request.platform} pushes", code="PlatformNotConfigured")
    device_id = derived_id(request.platform, request.token)
    known = _device(device_id)
    is_new = known is None or known.owner_id != owner_id
    if is_new and DeviceModel.by_owner.count(owner_id) >= MAX_DEVICES_PER_OWNER:
        raise Conflict(f"at most {MAX_DEVICES_PER_OWNER} devices per account: remove one first", code="TooManyDevices")
    now = utc_now()
    device = DeviceModel(
        device_id,
        owner_id=owner_id,
        platform=request.platform,
        endpoint_arn=_enabled_endpoint(application, request.token, known.endpoint_arn if known else None),
        created_at=now if is_new else known.created_at,
        updated_at=now,
    )
    device.save()
    return device_view(device), is_new


def list_devices(owner_id: str) -> dict[str, Any]:
    devices = DeviceModel.by_owner.query(owner_id, scan_index_forward=False)
    return {"devices": [device_view(device) for device in devices]}


def remove(owner_id: str, device_id: str) -> None:
    device = _device(device_id)
    if device is None or device.owner_id != owner_id:
        raise NotFound(f"no device {device_id[:40]!r}", code="DeviceNotFound")
    _forget(device)


def device_view(device: DeviceModel) -> dict[str, Any]:
    return {
        "deviceId": device.device_id,
        "platform": device.platform,
        "createdAt": device.created_at,
        "updatedAt": device.updated_at,
    }


def _device(device_id: str) -> DeviceModel | None:
    try:
        return DeviceModel.get(device_id)
    except DoesNotExist:
        return None


def _enabled_endpoint(application_arn: str, token: str, known_arn: str | None) -> str:
    """The token's endpoint, enabled: a re-registered token is valid again even if APNs or FCM had
    disabled it (the pattern SNS documents for keeping endpoints current)."""
    sns = aws.client("sns")
    if known_arn and not _belongs_to(known_arn, application_arn):
        # The deployment moved to another application (sandbox -> production): start afresh there.
        _delete_endpoint(known_arn)
        known_arn = None
    if known_arn:
        try:
            sns.set_endpoint_attributes(EndpointArn=known_arn, Attributes={"Token": token, "Enabled": "true"})
            return known_arn
        except ClientError as error:
            if aws.error_code(error) not in _GONE | {"InvalidParameter"}:
                raise
    try:
        return sns.create_platform_endpoint(PlatformApplicationArn=application_arn, Token=token)["EndpointArn"]
    except ClientError as error:
        # The token has an endpoint whose attributes differ (it was disabled): SNS names it.
        existing = re.search(r"Endpoint (arn:\S+) already exists", str(error))
        if aws.error_code(error) != "InvalidParameter" or not existing:
            raise
    sns.set_endpoint_attributes(EndpointArn=existing.group(1), Attributes={"Token": token, "Enabled": "true"})
    return existing.group(1)


def _forget(device: DeviceModel) -> None:
    """Delete the device and its endpoint (unless it was registered again meanwhile)."""
    try:
        device.delete(condition=DeviceModel.endpoint_arn == device.endpoint_arn)
    except DeleteError:
        return
    _delete_endpoint(device.endpoint_arn)


def _delete_endpoint(endpoint_arn: str) -> None:
    try:
        aws.client("sns").delete_endpoint(EndpointArn=endpoint_arn)
    except ClientError as error:
        if aws.error_code(error) not in _GONE:
            raise


def _belongs_to(endpoint_arn: str, application_arn: str) -> bool:
    """``...:endpoint/APNS/app/<uuid>`` belongs to ``...:app/APNS/app``."""
    return endpoint_arn.rsplit("/", 1)[0].replace(":endpoint/", ":app/", 1) == application_arn


# -- pushes (the notify function) ------------------------------------------------------------------


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
        if verdict not in _GONE:
            raise
        _forget(device)
        return {"deviceId": device.device_id, "removed": verdict}
    return {"deviceId": device.device_id, "messageId": answer["MessageId"]}


def _shorten(text: str) -> str:
    return text if len(text) <= _BODY_CHARACTERS else text[: _BODY_CHARACTERS - 1] + "…"
