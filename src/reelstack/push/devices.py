"""Phones that get pushes: ``POST /devices`` registers a phone's APNs or FCM token as an endpoint of
the SNS platform application the deployment names (template parameters). A token is one device
whoever sends it: its id derives from platform and token, and the account that registered it last
owns it, so a phone that changes accounts stops getting the previous account's pushes."""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from reelstack import aws
from reelstack.bodies import RegisterDevice
from reelstack.config import deployment
from reelstack.errors import Conflict, InvalidInput, NotFound
from reelstack.ids import derived_id
from reelstack.store.records import DeviceModel, conditional, utc_now

MAX_DEVICES_PER_OWNER = 20
ENDPOINT_GONE = {"EndpointDisabled", "NotFound"}  # SNS's verdicts on an endpoint that will never take a push again


def register(owner_id: str, request: RegisterDevice) -> tuple[dict[str, Any], bool]:
    """Register (or re-register, as apps do at every launch) the caller's phone. Returns the device
    and whether it is new to this owner."""
    application = deployment().push_applications.get(request.platform)
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
    forget(device)


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
            if aws.error_code(error) not in ENDPOINT_GONE | {"InvalidParameter"}:
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


def forget(device: DeviceModel) -> None:
    """Delete the device and its endpoint (unless it was registered again meanwhile)."""
    if conditional(lambda: device.delete(condition=DeviceModel.endpoint_arn == device.endpoint_arn), "the device"):
        _delete_endpoint(device.endpoint_arn)


def _delete_endpoint(endpoint_arn: str) -> None:
    try:
        aws.client("sns").delete_endpoint(EndpointArn=endpoint_arn)
    except ClientError as error:
        if aws.error_code(error) not in ENDPOINT_GONE:
            raise


def _belongs_to(endpoint_arn: str, application_arn: str) -> bool:
    """``...:endpoint/APNS/app/<uuid>`` belongs to ``...:app/APNS/app``."""
    return endpoint_arn.rsplit("/", 1)[0].replace(":endpoint/", ":app/", 1) == application_arn
