"""asset.ready and asset.failed from the events topic: one push to each of the owner's phones.

Exactly one push per device and terminal state: Powertools idempotency keys each delivery on
(device, asset, state), so SNS redeliveries and Lambda retries skip the devices already told.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack import push
from reelstack.models import DeviceModel
from reelstack.observability import MetricUnit, lambda_handler, logger, metrics

idempotency = IdempotencyConfig(event_key_jmespath="[deviceId, assetId, status]", expires_after_seconds=7 * 86400)
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("IDEMPOTENCY_TABLE", "reelstack-idempotency"))


@idempotent_function(data_keyword_argument="delivery", config=idempotency, persistence_store=persistence)
def deliver(delivery: dict[str, Any], device: DeviceModel, message: str) -> dict[str, Any]:
    return push.send(device, message)


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    idempotency.register_lambda_context(context)
    outcomes = []
    for record in SNSEvent(event).records:
        notice = push.notice_for(json.loads(record.sns.message))
        if notice is None:
            continue
        message = notice.message()
        for device in push.devices_of(notice.owner_id):
            delivery = {"deviceId": device.device_id, "assetId": notice.asset_id, "status": notice.status}
            outcome = deliver(delivery=delivery, device=device, message=message)
            kind = "PushEndpointsRemoved" if "removed" in outcome else "PushesSent"
            metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
            outcomes.append({**delivery, **outcome})
    logger.info("pushes", extra={"outcomes": outcomes})
    return outcomes
