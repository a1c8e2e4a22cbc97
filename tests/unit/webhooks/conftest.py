"""The webhooks room's helpers: receivers on loopback (the development switch is on in ``cloud``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Receiver:
    """Answers ``statuses`` in turn (the last forever) and keeps what it got."""

    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    body: bytes = b"ok"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append((dict(self.headers.items()), raw))
                self.send_response(receiver.statuses[min(len(receiver.received), len(receiver.statuses)) - 1])
                self.send_header("content-length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(*statuses: int, body: bytes = b"ok") -> Receiver:
        made = Receiver(list(statuses) or [200], body=body)
        made.start()
        started.append(made)
        return made

    yield start
    for made in started:
        made.server.shutdown()
        made.server.server_close()
