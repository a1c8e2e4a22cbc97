"""``GET /assets/{id}/execution``: this asset's execution, state by state, on the state machine's ASL
(the API draws it with reelstack_draw: presentation is not the domain's)."""

from __future__ import annotations

import json
from typing import Any

from reelstack import aws
from reelstack.config import deployment
from reelstack.pipeline.asl import execution_rows
from reelstack.store.assets import owned_asset


def execution_states(owner_id: str, asset_id: str) -> dict[str, Any]:
    """Outcome and milliseconds per state of the asset's execution (``NOT_STARTED`` before there is one),
    with the machine's definition they belong to."""
    asset = owned_asset(owner_id, asset_id)
    sfn = aws.client("stepfunctions")
    arn = asset.execution_arn
    history: list[dict[str, Any]] = []
    status = "NOT_STARTED"
    machine_arn = deployment().state_machine_arn
    if arn:
        described = sfn.describe_execution(executionArn=arn)
        status, machine_arn = described["status"], described["stateMachineArn"]
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            history += page["events"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine_arn)["definition"])
    rows = execution_rows(definition, history)
    return {"assetId": asset_id, "executionStatus": status, "definition": definition, "rows": rows}
