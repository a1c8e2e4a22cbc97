"""asset.ready and asset.failed from the events topic: one push to each of the owner's phones.

Exactly one push per device and terminal state: Powertools idempotency keys each delivery on
(device, asset, state), so SNS redeliveries and Lambda retries skip the devices already told.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.idempotency import once_per
from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.push import notices
from reelstack.store.records import DeviceModel

idempotency, once_per_delivery = once_per("[deviceId, assetId, status]", payload="delivery")


@once_per_delivery
def deliver(delivery: dict[str, Any], device: DeviceModel, message: str) -> dict[str, Any]:
    return notices.send(device, message)


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    idempotency.register_lambda_context(context)
    outcomes = []
    for record in SNSEvent(event).records:
        notice = notices.notice_for(json.loads(record.sns.message))
        if notice is None:
            continue
        message = notice.message()
        for device in notices.devices_of(notice.owner_id):
            delivery = {"deviceId": device.device_id, "assetId": notice.asset_id, "status": notice.status}
            outcome = deliver(delivery=delivery, device=device, message=message)
            kind = "PushEndpointsRemoved" if "removed" in outcome else "PushesSent"
            metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
            outcomes.append({**delivery, **outcome})
    logger.info("pushes", extra={"outcomes": outcomes})
    return outcomes
