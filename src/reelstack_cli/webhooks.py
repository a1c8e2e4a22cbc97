"""``reelstack webhooks listen``: a receiver on this machine that verifies and prints deliveries, as
``stripe listen`` does. It registers an endpoint for itself (``http://127.0.0.1:PORT/``, which the
local cloud's development switch AllowLoopbackUrls lets through), verifies each delivery's Standard
Webhooks signature on the raw body, prints it, and deletes the endpoint when it stops."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reelstack.errors import InvalidInput
from reelstack.webhooks import signing

MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Delivery:
    webhook_id: str
    verified: bool
    duplicate: bool
    document: Any
    problem: str = ""


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that checks every POST against ``secrets`` (any one verifying
    is enough) and hands each delivery to ``on_delivery``: 2xx for a verified one, 400 otherwise."""

    secrets: list[str]
    on_delivery: Callable[[Delivery], None]
    port: int = 0
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(min(length, MAX_BODY_BYTES))  # the raw body: what was signed
                status = receiver.receive(dict(self.headers.items()), raw)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # the deliveries are printed, not the requests
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def receive(self, headers: dict[str, str], raw: bytes) -> int:
        problem = ""
        for secret in self.secrets:
            try:
                signing.verify(secret, headers, raw)
                break
            except InvalidInput as refused:
                problem = refused.message
        else:
            problem = problem or "no secret to verify with"
        message_id = {name.lower(): value for name, value in headers.items()}.get("webhook-id", "")
        try:
            document = json.loads(raw)
        except ValueError:
            document = raw.decode("utf-8", errors="replace")
        with self._lock:
            duplicate = not problem and message_id in self.seen
            if not problem:
                self.seen.add(message_id)
        self.on_delivery(Delivery(message_id, not problem, duplicate, document, problem))
        return 400 if problem else 200

    def serve(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
