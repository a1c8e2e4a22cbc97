"""From an asset's write to the webhook's 2xx, on the local cloud: ``PATCH /assets/{id}`` writes the
change and its ``asset.updated`` (one transaction, the outbox), the API publishes it, the topic's
queue feeds the fan-out, the deliveries queue the attempt, and a receiver on loopback answers 200.

The clock runs from the event's ``occurredAt`` (taken just before the write) to the moment the
receiver answers, both on this machine's clock. p50 and p95 over BENCH_WEBHOOK_ROUNDS updates, one
after the other (p95 by nearest rank), after a few unmeasured ones warm the functions up.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import deployed_cloud, percentile, write_results
from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.deploy import dev_secret

ROUNDS = int(os.environ.get("BENCH_WEBHOOK_ROUNDS", "30"))
WARM_UP = 3


class _Receiver:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # the event's occurredAt -> the 200 going out, per delivery
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                document = json.loads(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                answered = time.time()
                written = datetime.fromisoformat(document["occurredAt"].replace("Z", "+00:00")).timestamp()
                with receiver.arrived:
                    receiver.latencies.append(answered - written)
                    receiver.arrived.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for_count(self, count: int, timeout: float = 120) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.latencies) >= count, timeout):
                raise TimeoutError(f"{count - len(self.latencies)} webhook(s) never arrived")


def run() -> dict[str, Any]:
    receiver = _Receiver()
    with deployed_cloud() as cloud:
        api = ApiClient(cloud.outputs["apiUrl"], issue_dev_token(dev_secret(cloud.settings), "bench-webhooks"))
        url = f"http://127.0.0.1:{receiver.server.server_address[1]}/"
        api.post("/webhooks", {"url": url, "events": ["asset.updated"]})
        asset = api.post("/uploads", {"filename": "w.mp4", "size": 1000, "contentType": "video/mp4"})["assetId"]
        for round_ in range(WARM_UP + ROUNDS):
            print(f"webhooks: update {round_ + 1}/{WARM_UP + ROUNDS}", file=sys.stderr, flush=True)
            api.patch(f"/assets/{asset}", {"title": f"take {round_}"})
            receiver.wait_for_count(round_ + 1)  # one at a time: each is measured alone
    latencies = receiver.latencies[WARM_UP:]
    receiver.server.shutdown()
    summary = {
        "asset write -> webhook 2xx": {
            "updates": len(latencies),
            "p50Seconds": round(statistics.median(latencies), 3),
            "p95Seconds": round(percentile(latencies, 0.95), 3),
            "maxSeconds": round(max(latencies), 3),
        }
    }
    return write_results("webhooks", summary, {"latenciesSeconds": [round(v, 4) for v in latencies]}, rounds=ROUNDS)


def report(record: dict[str, Any]) -> None:
    row = record["median"]["asset write -> webhook 2xx"]
    print(f"webhooks on the local cloud ({row['updates']} updates, one at a time)")
    print(
        f"  asset write -> webhook 2xx: p50 {row['p50Seconds']} s, p95 {row['p95Seconds']} s, max {row['maxSeconds']} s"
    )


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    row = record["median"]["asset write -> webhook 2xx"]
    return [("asset write -> webhook 2xx, p50 / p95", f"{row['p50Seconds']} / {row['p95Seconds']} s",
             "none: no webhooks before this", "")]  # fmt: skip
