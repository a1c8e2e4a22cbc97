"""One 40 MiB upload through each client path of issue 31 over the emulated 4G link (bench.link),
against one plain S3 PutObject of the same bytes over the same link, in the same run.

Every arm gets a fresh emulator seeded with the round's number (the same stalls in every run), and
everything the phone sends crosses it: the API's calls and Companion's routes as well as the bytes
(a presigned URL keeps its Host header: bench.uploads.ThroughLink). The arms:

- **putObject (baseline)**: one PutObject of the whole file (boto3) to the upload bucket.
- **CLI uploader**: reelstack_cli.uploader with its defaults: POST /uploads, the API's 8 MiB parts,
  4 in flight, a SHA-256 per part, complete.
- **one PUT**: ``POST /uploads {method: "PUT", sha256}``, then the presigned PUT with the headers it
  answers (length, type and SHA-256 signed in).
- **one POST form**: ``POST /uploads {method: "POST"}``, then the multipart/form-data POST of its
  fields and the file.
- **Uppy 6, default**: what ``@uppy/aws-s3`` 6.1.0 with ``companionEndpoint`` does with a file under
  its 100 MiB threshold (CompanionS3.putObject): ``GET <endpoint>/s3/params``, then the POST form.
- **Uppy 6, multipart** (``shouldUseMultipart: true``; what it does past 100 MiB): ``POST
  /s3/multipart``, then per 5 MiB chunk (S3Uploader's floor, which its default chunk size only
  exceeds past 48 GiB) ``GET /s3/multipart/{id}/{n}`` and the PUT, one part after the other as its
  S3Uploader awaits each (its ``limit: 6`` is files at once, not parts), then ``POST .../complete``.
- **from a URL**: ``POST /uploads {url}`` over the link; the cloud fetches the file from an HTTP server
  on loopback, not through the link (a URL upload's bytes never cross the phone's link: that is the
  point of it). Timed to the upload's ``completed`` (polled on loopback every 0.1 s).

The clients are Python, shaped like the ones they stand for: Uppy's grant is taken once, untimed (an
app takes one per session), and no CORS preflight is sent (a browser adds one round trip before each
cross-origin JSON request and PUT). Between arms the bench waits, untimed, for the pipeline to finish
with the upload (random bytes: it fails them), so that nothing competes with the next arm.

BENCH_UPLOAD_CLIENTS_ROUNDS rounds (default 1: five arms send the file over one connection, which the
4G profile caps at about 2.4 Mbit/s, some 2.5 minutes each, so a round takes about 13 minutes; the
uploads suite saw about 2 % between rounds of such an arm). BENCH_UPLOAD_CLIENTS_MIB sets the size
(default 40). Raw timings go to bench/results/upload_clients.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from bench.common import BenchCloud, deployed_cloud, median, timed, write_results
from bench.link import PROFILES, LinkEmulator
from bench.uploads import ThroughLink, mib_rate, s3_client, settled
from reelstack.api.auth import issue_dev_token
from reelstack_cli.api_client import ApiClient
from reelstack_cli.deploy import dev_secret
from reelstack_cli.uploader import StateStore, Uploader

ROUNDS = int(os.environ.get("BENCH_UPLOAD_CLIENTS_ROUNDS", "1"))
SIZE = int(os.environ.get("BENCH_UPLOAD_CLIENTS_MIB", "40")) * 2**20
LINK = "4G"
CONTENT_TYPE = "video/mp4"
UPPY_CHUNK = 5 * 2**20  # @uppy/aws-s3 6.1.0's S3Uploader: MIN_CHUNK_SIZE
SEND_CHUNK = 64 * 1024
# Python's sendall counts its timeout over the whole call and urllib3 leaves the connect timeout on the
# socket while the body goes: bodies go as an iterator of small chunks, each well within it.
TIMEOUT = urllib3.Timeout(connect=30, read=600)
BASELINE = "putObject (baseline)"


@dataclass
class Phone:
    """What one arm sends with: everything but ``watch`` crosses the link."""

    cloud: BenchCloud
    api: ApiClient  # the app's token
    http: ThroughLink  # S3 and Companion's routes
    s3: Any  # boto3, for the baseline
    companion: str  # Uppy 6's companionEndpoint
    source_url: str  # where the URL arm's video is, on loopback
    watch: ApiClient  # the bench's own view on loopback, to wait for the upload's end
    scratch: Path


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for offset in range(0, len(view), SEND_CHUNK):
        yield bytes(view[offset : offset + SEND_CHUNK])


def _sent(answer: urllib3.BaseHTTPResponse, what: str) -> urllib3.BaseHTTPResponse:
    if answer.status not in (200, 201, 204):
        raise RuntimeError(f"{what}: {answer.status} {answer.data[:300]!r}")
    return answer


def _json(phone: Phone, method: str, url: str, body: Any = None) -> Any:
    """One of Companion's routes, as Uppy's CompanionS3 calls it (JSON, no token: the grant is in the URL)."""
    answer = phone.http.request(method, url, json=body, timeout=TIMEOUT)
    return json.loads(_sent(answer, f"{method} {url.split('?')[0]}").data)


def _put(phone: Phone, url: str, data: bytes, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
    answer = phone.http.request("PUT", url, body=_chunks(data), headers={**headers, "Content-Length": str(len(data))},
                                timeout=TIMEOUT)  # fmt: skip
    return _sent(answer, "PUT")


def _post_form(phone: Phone, url: str, fields: dict[str, str], filename: str, data: bytes) -> None:
    """The POST form as a browser's FormData sends it: the policy's fields, then the file, last."""
    body, content_type = urllib3.encode_multipart_formdata({**fields, "file": (filename, data, CONTENT_TYPE)})
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    _sent(phone.http.request("POST", url, body=_chunks(body), headers=headers, timeout=TIMEOUT), "POST form")


def _declared(phone: Phone, path: Path, **fields: Any) -> dict[str, Any]:
    size = path.stat().st_size
    return phone.api.post("/uploads", {"filename": path.name, "size": size, "contentType": CONTENT_TYPE, **fields})


def put_object(phone: Phone, path: Path) -> str | None:
    phone.s3.put_object(Bucket=phone.cloud.outputs["uploadBucket"], Key="bench/put-object", Body=path.read_bytes())
    return None


def cli_uploader(phone: Phone, path: Path) -> str | None:
    uploader = Uploader(phone.api, "bench", state=StateStore(phone.scratch / "state"))
    uploader.http = phone.http
    return uploader.upload(path, resume="never")["assetId"]


def one_put(phone: Phone, path: Path) -> str | None:
    data = path.read_bytes()
    upload = _declared(phone, path, method="PUT", sha256=hashlib.sha256(data).hexdigest())
    _put(phone, upload["url"], data, upload["headers"])
    return upload["assetId"]


def one_post(phone: Phone, path: Path) -> str | None:
    upload = _declared(phone, path, method="POST")
    _post_form(phone, upload["url"], upload["fields"], path.name, path.read_bytes())
    return upload["assetId"]


def uppy6_default(phone: Phone, path: Path) -> str | None:
    query = urlencode({"filename": path.name, "type": CONTENT_TYPE})
    params = _json(phone, "GET", f"{phone.companion}/s3/params?{query}")
    _post_form(phone, params["url"], params["fields"], path.name, path.read_bytes())
    return params["assetId"]


def uppy6_multipart(phone: Phone, path: Path) -> str | None:
    meta = {"name": path.name, "type": CONTENT_TYPE}
    created = _json(phone, "POST", f"{phone.companion}/s3/multipart",
                    {"filename": path.name, "type": CONTENT_TYPE, "metadata": meta})  # fmt: skip
    upload = f"{phone.companion}/s3/multipart/{quote(created['uploadId'], safe='')}"
    key = urlencode({"key": created["key"]})
    parts = []
    with path.open("rb") as file:
        while chunk := file.read(UPPY_CHUNK):
            number = len(parts) + 1
            signed = _json(phone, "GET", f"{upload}/{number}?{key}")
            etag = _put(phone, signed["url"], chunk, {}).headers["ETag"].strip('"')  # Uppy sends no header of its own
            parts.append({"PartNumber": number, "ETag": etag})
    return _json(phone, "POST", f"{upload}/complete?{key}", {"parts": parts})["assetId"]


def from_url(phone: Phone, path: Path) -> str | None:
    created = phone.api.post("/uploads", {"url": phone.source_url, "title": path.name})
    deadline = time.monotonic() + 600
    while (upload := phone.watch.get(f"/uploads/{created['uploadId']}"))["status"] != "completed":
        if upload["status"] != "uploading" or time.monotonic() > deadline:
            raise RuntimeError(f"the upload from a URL is {upload['status']}: {upload.get('error')}")
        time.sleep(0.1)
    return created["assetId"]


ARMS: dict[str, Callable[[Phone, Path], str | None]] = {
    BASELINE: put_object,
    "CLI uploader (8 MiB parts, 4 in flight, checksums)": cli_uploader,
    "one PUT (POST /uploads method PUT, sha256)": one_put,
    "one POST form (POST /uploads method POST)": one_post,
    "Uppy 6 default (GET /s3/params, POST form)": uppy6_default,
    "Uppy 6 multipart (5 MiB parts, one at a time)": uppy6_multipart,
    "from a URL (the API call over 4G, fetched by the cloud)": from_url,
}


def _source_server(path: Path) -> ThreadingHTTPServer:
    """Where the URL arm's video already is: a web server on loopback (AllowLoopbackUrls, on in the
    local cloud, lets the fetcher reach it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _measure(cloud: BenchCloud, arm: str, path: Path, context: dict[str, Any], round_number: int) -> dict[str, Any]:
    port = cloud.settings.port
    with (emulator := LinkEmulator(port, LINK, seed=round_number)) as link_port:
        http = ThroughLink(port, link_port, maxsize=8)
        phone = Phone(
            cloud=cloud,
            api=ApiClient(context["watch"].base_url, context["watch"].token, http=http),
            http=http,
            # One try and patient reads: a retry would hide in the time (as in bench.uploads).
            s3=s3_client(f"http://127.0.0.1:{link_port}", read_timeout=600, retries={"total_max_attempts": 1}),
            companion=context["companion"],
            source_url=context["source_url"],
            watch=context["watch"],
            scratch=context["scratch"],
        )
        asset_ids: list[str | None] = []
        seconds = timed(lambda: asset_ids.append(ARMS[arm](phone, path)))
        stalls, connections = emulator.link.stalls, emulator.connections
    if asset_ids[0] is not None:
        settled(context["watch"], asset_ids[0])
    return {"seconds": round(seconds, 3), "stalls": stalls, "connections": connections}


def run() -> dict[str, Any]:
    raw: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as folder, deployed_cloud() as cloud:
        scratch = Path(folder)
        path = scratch / "bench-clients.mp4"
        path.write_bytes(os.urandom(SIZE))
        server = _source_server(path)
        watch = ApiClient(cloud.outputs["apiUrl"], issue_dev_token(dev_secret(cloud.settings), "bench"))
        context = {
            "watch": watch,
            "companion": watch.post("/upload-grants", {})["companionEndpoint"],
            "source_url": f"http://127.0.0.1:{server.server_address[1]}/{path.name}",
            "scratch": scratch,
        }
        warm = scratch / "warm.mp4"  # no arm pays for the API function's first start
        warm.write_bytes(os.urandom(1024))
        Uploader(watch, "bench", state=StateStore(scratch / "state")).upload(warm, resume="never")
        try:
            for round_number in range(1, ROUNDS + 1):
                for arm in ARMS:
                    print(f"upload clients round {round_number}/{ROUNDS}: {arm}", file=sys.stderr, flush=True)
                    raw[arm].append(_measure(cloud, arm, path, context, round_number))
        finally:
            server.shutdown()
    baseline = median([run["seconds"] for run in raw[BASELINE]])
    summary = {}
    for arm, runs in raw.items():
        seconds = median([run["seconds"] for run in runs])
        summary[arm] = {
            "seconds": round(seconds, 3),
            "mibPerSecond": mib_rate(SIZE / 2**20 / seconds),
            "speedupOverPutObject": round(baseline / seconds, 2),
            "connections": runs[0]["connections"],
        }
    return write_results("upload_clients", summary, raw, rounds=ROUNDS, bytes=SIZE, link=LINK,
                         profile=PROFILES[LINK].describe())  # fmt: skip


def report(record: dict[str, Any]) -> None:
    print(
        f"{record['bytes'] / 2**20:.0f} MiB through each client path over {record['link']} (emulated),"
        f" {record['rounds']} round(s); x: against one PutObject over the same link"
    )
    print(f"  {'arm':<58} {'seconds':>9} {'MiB/s':>7} {'x':>7} {'connections':>12}")
    for arm, row in record["median"].items():
        print(
            f"  {arm:<58} {row['seconds']:>9} {row['mibPerSecond']:>7} {row['speedupOverPutObject']:>6}x"
            f" {row['connections']:>12}"
        )


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = record["median"]
    over = f"over {record['link']} (emulated)"
    return [
        (
            f"Upload {record['bytes'] / 2**20:.0f} MiB {over}, {arm}",
            f"{row['seconds']} s ({row['mibPerSecond']} MiB/s)",
            f"one PutObject {over}: {rows[BASELINE]['seconds']} s",
            f"{row['speedupOverPutObject']}x",
        )
        for arm, row in rows.items()
        if arm != BASELINE
    ]
