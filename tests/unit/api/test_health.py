"""GET /health with its sample event."""

from __future__ import annotations

import json

from tests.unit.conftest import load_event, load_handler


def test_health_with_its_sample_event(aws: None) -> None:
    answer = load_handler("api")(load_event("api/health.json"), None)
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert body["checks"]["assetsTable"]["status"] == "ok"
    assert body["checks"]["eventsTopic"]["status"] == "down"  # no topic in this moto account
    assert body["status"] == "degraded"
