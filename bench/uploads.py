"""Upload throughput to the local cloud: the CLI uploader with 1, 4 and 8 parts in flight against a
single PutObject of the same file (the baseline), side by side in one run on one machine, on loopback
and over an emulated phone link.

Every loopback arm sends the same 200 MiB of random bytes (BENCH_UPLOAD_MIB). The uploader arms go
through the public API as an app does (POST /uploads, part URLs, complete), with per-part SHA-256
checksums (the CLI's default) and, for comparison, without.

The same arms run again over each link of BENCH_LINK_PROFILES (default "4G"; "" for none; "4G,3G"
adds the weak link) with BENCH_LINK_MIB (default 20) of random bytes, through bench.link's emulator
(bandwidth shared by the link, RTT, loss as a per-connection cap and stalls; see its docstring).
Everything the phone would send crosses the link: the API calls as well as the part PUTs (the client
connects to the emulator's port but keeps the Host header of the URL, which the presigned URL signs),
and the link's baseline is one PutObject over the same link. A fresh emulator per measured upload,
seeded with the round's number, so that runs meet the same stalls.
The part size is the API's to choose (Limits.preferred_part_bytes, 8 MiB), not the client's, so there
is no part-size arm: a 20 MiB file has 3 parts, and 4 or 8 in flight cannot differ there. A larger
BENCH_LINK_MIB shows what 8 buys; each MiB more costs about 3.5 s a round in each of the two arms that
send over one connection (PutObject, 1 part in flight) on 4G.

Arms run round-robin so that drift hits them all alike; medians of ROUNDS runs per arm; ratios are
against the PutObject of the same link; raw timings go to bench/results/uploads.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import urllib3
from botocore.config import Config

from bench.common import BenchCloud, deployed_cloud, median, timed, write_results
from bench.link import PROFILES, LinkEmulator
from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.deploy import dev_secret
from reelstack_cli.uploader import TERMINAL_ASSET_STATES, StateStore, Uploader

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SIZE = int(os.environ.get("BENCH_UPLOAD_MIB", "200")) * 2**20
LINK_SIZE = int(os.environ.get("BENCH_LINK_MIB", "20")) * 2**20
LINKS = [name.strip() for name in os.environ.get("BENCH_LINK_PROFILES", "4G").split(",") if name.strip()]
LOOPBACK = "loopback"
BASELINE = "putObject (baseline)"
# What is sent on each link; None: one PutObject of the whole file, the link's baseline.
VARIANTS: dict[str, dict[str, Any] | None] = {
    BASELINE: None,
    "uploader, 1 part in flight": {"parallel": 1, "checksums": True},
    "uploader, 4 parts in flight": {"parallel": 4, "checksums": True},
    "uploader, 8 parts in flight": {"parallel": 8, "checksums": True},
    "uploader, 4 in flight, no checksums": {"parallel": 4, "checksums": False},
}


@dataclass(frozen=True)
class Arm:
    link: str  # LOOPBACK or a bench.link profile
    variant: str  # a key of VARIANTS

    @property
    def name(self) -> str:
        """The variant's own name on loopback (as before links were added), else e.g. "putObject over 4G
        (baseline)", "uploader over 4G, 1 part in flight"."""
        if self.link == LOOPBACK:
            return self.variant
        over = self.variant.replace("putObject", f"putObject over {self.link}", 1)
        return over.replace("uploader,", f"uploader over {self.link},", 1)

    @property
    def size(self) -> int:
        return SIZE if self.link == LOOPBACK else LINK_SIZE


class ThroughLink(urllib3.PoolManager):
    """A pool that connects to the link emulator's port for anything addressed to the local cloud's port,
    keeping the URL's Host header: a presigned URL signs the host, and S3 checks it against the header."""

    def __init__(self, cloud_port: int, link_port: int, **options: Any) -> None:
        super().__init__(retries=False, **options)
        self.cloud_port = cloud_port
        self.link_port = link_port

    def urlopen(self, method: str, url: str, redirect: bool = True, **options: Any) -> urllib3.BaseHTTPResponse:
        parts = urlsplit(url)
        if parts.port == self.cloud_port:
            options["headers"] = {"Host": parts.netloc, **(options.get("headers") or {})}
            url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.link_port}"))
        return super().urlopen(method, url, redirect, **options)


def settled(api: ApiClient, asset_id: str, timeout: float = 300) -> None:
    """Wait, polling often, until the pipeline has finished with the asset."""
    deadline = time.monotonic() + timeout
    while api.get(f"/assets/{asset_id}")["status"] not in TERMINAL_ASSET_STATES and time.monotonic() < deadline:
        time.sleep(0.2)


def s3_client(endpoint: str, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(signature_version="s3v4", **config),
    )


def _send(
    cloud: BenchCloud, arm: Arm, path: Path, scratch: Path, s3: Any, api: ApiClient, http: urllib3.PoolManager | None
) -> tuple[float, str | None]:
    """Seconds to upload ``path`` as the arm does, and the asset the uploader made (None for PutObject)."""
    options = VARIANTS[arm.variant]
    if options is None:
        bucket = cloud.outputs["uploadBucket"]
        return timed(lambda: s3.put_object(Bucket=bucket, Key="bench/put-object", Body=path.read_bytes())), None
    uploader = Uploader(api, "bench", state=StateStore(scratch / "state"), **options)
    if http is not None:
        uploader.http = http
    answers: list[dict[str, Any]] = []
    seconds = timed(lambda: answers.append(uploader.upload(path, resume="never")))
    return seconds, answers[0]["assetId"]


def _measure(
    cloud: BenchCloud, arm: Arm, path: Path, scratch: Path, s3: Any, api: ApiClient, round_number: int
) -> tuple[float, int]:
    """Seconds for one upload of the arm, and the stalls the link drew in it; untimed afterwards: the
    pipeline reads the completed file (and fails it: random bytes), and is let finish so that it does
    not compete with the next arm."""
    if arm.link == LOOPBACK:
        seconds, asset_id = _send(cloud, arm, path, scratch, s3, api, None)
        stalls = 0
    else:
        port = cloud.settings.port
        with (emulator := LinkEmulator(port, arm.link, seed=round_number)) as link_port:
            link_api = ApiClient(api.base_url, api.token, http=ThroughLink(port, link_port, maxsize=16))
            parallel = (VARIANTS[arm.variant] or {}).get("parallel", 1)
            http = ThroughLink(port, link_port, maxsize=parallel + 2)
            # One try and patient reads: a retry would hide in the time, and 20 MiB on one 2.4 Mbit/s
            # connection sits in socket buffers for longer than botocore's default 60 s read timeout.
            link_s3 = s3_client(f"http://127.0.0.1:{link_port}", read_timeout=600, retries={"total_max_attempts": 1})
            seconds, asset_id = _send(cloud, arm, path, scratch, link_s3, link_api, http)
            stalls = emulator.link.stalls
    if asset_id is not None:
        settled(api, asset_id)
    return seconds, stalls


def mib_rate(mib_per_second: float) -> float:
    return round(mib_per_second, 1 if mib_per_second >= 10 else 2)


def run() -> dict[str, Any]:
    unknown = [link for link in LINKS if link not in PROFILES]
    if unknown:
        sys.exit(f"unknown BENCH_LINK_PROFILES {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
    arms = [Arm(link, variant) for link in [LOOPBACK, *LINKS] for variant in VARIANTS]
    raw: dict[str, list[float]] = {arm.name: [] for arm in arms}
    stalls: dict[str, list[int]] = {arm.name: [] for arm in arms if arm.link != LOOPBACK}
    with tempfile.TemporaryDirectory() as folder, deployed_cloud() as cloud:
        scratch = Path(folder)
        files = {}
        for size in sorted({arm.size for arm in arms}):
            files[size] = scratch / f"bench-{size}.mp4"
            files[size].write_bytes(os.urandom(size))
        s3 = s3_client(cloud.settings.endpoint)
        api = ApiClient(cloud.outputs["apiUrl"], issue_dev_token(dev_secret(cloud.settings), "bench"))
        # Warm-up: one small upload so that no arm pays for the API function's first start.
        small = scratch / "warm.mp4"
        small.write_bytes(os.urandom(1024))
        Uploader(api, "bench", state=StateStore(scratch / "state")).upload(small, resume="never")
        for round_number in range(1, ROUNDS + 1):
            for arm in arms:
                print(f"uploads round {round_number}/{ROUNDS}: {arm.name}", file=sys.stderr, flush=True)
                seconds, drawn = _measure(cloud, arm, files[arm.size], scratch, s3, api, round_number)
                raw[arm.name].append(seconds)
                if arm.link != LOOPBACK:
                    stalls[arm.name].append(drawn)
    baselines = {arm.link: median(raw[arm.name]) for arm in arms if arm.variant == BASELINE}
    summary = {
        arm.name: {
            "link": arm.link,
            "variant": arm.variant,
            "bytes": arm.size,
            "seconds": round(median(raw[arm.name]), 3),
            "mibPerSecond": mib_rate(arm.size / 2**20 / median(raw[arm.name])),
            "speedupOverPutObject": round(baselines[arm.link] / median(raw[arm.name]), 2),
        }
        for arm in arms
    }
    return write_results(
        "uploads",
        summary,
        raw,
        rounds=ROUNDS,
        bytes=SIZE,
        linkBytes=LINK_SIZE,
        links={link: PROFILES[link].describe() for link in LINKS},
        linkStalls=stalls,
    )


def _by_variant(record: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, dict[str, Any]]]]:
    """The links in the record, and each variant's row on each link (a record from before links were
    added has loopback rows only, named by their variant)."""
    links: list[str] = []
    variants: dict[str, dict[str, dict[str, Any]]] = {}
    for name, row in record["median"].items():
        link = row.get("link", LOOPBACK)
        if link not in links:
            links.append(link)
        variants.setdefault(row.get("variant", name), {})[link] = {"bytes": record["bytes"], **row}
    return links, variants


def _describe(link: str, profile: dict[str, Any]) -> str:
    return (
        f"{link}: {profile['upMbit']:g} Mbit/s up shared, {profile['rttMs']:g} ms RTT, {profile['loss']:.0%} loss"
        f" -> {profile['perFlowMbit']} Mbit/s a connection, stalls of {profile['stallSeconds']:g} s"
        f" ({profile['stallChancePer64KiB']:.0%} per 64 KiB)"
    )


def report(record: dict[str, Any]) -> None:
    links, variants = _by_variant(record)
    print(
        f"uploads to the local cloud, medians of {record['rounds']} rounds; x: against one PutObject on the same link"
    )
    for link, profile in record.get("links", {}).items():
        print(f"  {_describe(link, profile)}")
    sizes = {link: row["bytes"] for rows in variants.values() for link, row in rows.items()}
    print(f"  {'':<38}" + "".join(f" {f'{link}, {sizes[link] / 2**20:.0f} MiB':>25}" for link in links))
    print(f"  {'arm':<38}" + f" {'seconds':>9} {'MiB/s':>7} {'x':>7}" * len(links))
    for variant, rows in variants.items():
        cells = ""
        for link in links:
            row = rows.get(link)
            cells += (
                f" {row['seconds']:>9} {row['mibPerSecond']:>7} {row['speedupOverPutObject']:>6}x"
                if row
                else f" {'':>9} {'':>7} {'':>7}"
            )
        print(f"  {variant:<38}{cells}")


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    links, variants = _by_variant(record)
    baselines = variants[BASELINE]
    rows = []
    for variant, on_links in variants.items():
        if variant == BASELINE:
            continue
        for link in links:
            if link not in on_links:
                continue
            row = on_links[link]
            over = "" if link == LOOPBACK else f" over {link}"
            rows.append(
                (
                    f"Upload {row['bytes'] / 2**20:.0f} MiB{over}, {variant.removeprefix('uploader, ')}",
                    f"{row['seconds']} s ({row['mibPerSecond']} MiB/s)",
                    f"one PutObject{over}: {baselines[link]['seconds']} s",
                    f"{row['speedupOverPutObject']}x",
                )
            )
    return rows
