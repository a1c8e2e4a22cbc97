"""Latency of the library API on the local cloud: ``GET /assets`` (a page of 20 from the ByOwner
index) and ``GET /assets/{id}``, by 1 client (the baseline) and by 20 concurrent clients, side by
side in one run. p50 and p99 of REQUESTS_PER_CLIENT requests per client, per arm; raw timings kept.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import deployed_cloud, write_results
from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.deploy import dev_secret

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "20"))
REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_REQUESTS", "25"))
ASSETS = 40


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _timed_requests(client: ApiClient, path: str, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(path)
        timings.append(time.perf_counter() - started)
    return timings


def run() -> dict[str, Any]:
    raw: dict[str, list[float]] = {}
    with deployed_cloud() as cloud:
        token = issue_dev_token(dev_secret(cloud.settings), "latency")
        seed = ApiClient(cloud.outputs["apiUrl"], token)
        asset_ids = [
            seed.post("/uploads", {"filename": f"v{n}.mp4", "size": 1000, "contentType": "video/mp4"})["assetId"]
            for n in range(ASSETS)
        ]
        paths = {"GET /assets": "/assets?limit=20", "GET /assets/{id}": f"/assets/{asset_ids[0]}"}
        for name, path in paths.items():
            _timed_requests(seed, path, 5)  # warm-up: the API's environments exist before timing
            for clients in (1, CLIENTS):
                print(f"api latency: {name}, {clients} client(s)", file=sys.stderr, flush=True)
                own = [ApiClient(cloud.outputs["apiUrl"], token) for _ in range(clients)]
                with ThreadPoolExecutor(clients) as pool:  # untimed: the local cloud starts its environments
                    list(pool.map(lambda client, p=path: _timed_requests(client, p, 2), own))
                with ThreadPoolExecutor(clients) as pool:
                    results = pool.map(lambda client, p=path: _timed_requests(client, p, REQUESTS_PER_CLIENT), own)
                raw[f"{name}, {clients} client{'s' if clients > 1 else ''}"] = [t for run in results for t in run]
    summary = {}
    for arm, timings in raw.items():
        summary[arm] = {
            "requests": len(timings),
            "p50Ms": round(statistics.median(timings) * 1000, 1),
            "p99Ms": round(_percentile(timings, 0.99) * 1000, 1),
        }
    for name in paths:
        single, many = summary[f"{name}, 1 client"], summary[f"{name}, {CLIENTS} clients"]
        many["p50OverSingleClient"] = round(many["p50Ms"] / single["p50Ms"], 2)
    return write_results("api_latency", summary, raw, clients=CLIENTS, requestsPerClient=REQUESTS_PER_CLIENT)


def report(record: dict[str, Any]) -> None:
    print(f"library API latency on the local cloud ({record['requestsPerClient']} requests per client)")
    print(f"  {'arm':<36} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs 1 client':>16}")
    for arm, row in record["median"].items():
        ratio = f"{row['p50OverSingleClient']}x" if "p50OverSingleClient" in row else ""
        print(f"  {arm:<36} {row['requests']:>8} {row['p50Ms']:>8} {row['p99Ms']:>8} {ratio:>16}")


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows, clients = record["median"], record["clients"]
    return [
        (
            f"{name}, p50 / p99",
            f"{clients} clients: {rows[f'{name}, {clients} clients']['p50Ms']:.0f} / "
            f"{rows[f'{name}, {clients} clients']['p99Ms']:.0f} ms",
            f"1 client: {rows[f'{name}, 1 client']['p50Ms']:.0f} / {rows[f'{name}, 1 client']['p99Ms']:.0f} ms",
            f"{rows[f'{name}, {clients} clients']['p50OverSingleClient']}x slower (p50)",
        )
        for name in ("GET /assets", "GET /assets/{id}")
    ]
