"""bench.link: the shaping on a fake clock (rates, sharing, stalls), and the proxy forwarding real bytes
both ways over keep-alive connections. No wall-clock bounds: the schedules are computed, not timed."""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import pytest

from bench.link import CHUNK, PROFILES, Flow, Link, LinkEmulator, Profile, TokenBucket

# Fast enough that the proxy tests take milliseconds: 400 Mbit/s, 2 ms, a per-flow cap of ~90 MB/s.
FAST = Profile("fast", up_mbit=400, down_mbit=400, rtt_ms=2, loss=1e-4, stall_chance=0)


def send_all(flow: Flow, total: int, start: float = 0.0, chunk: int = CHUNK) -> float:
    """When the last of ``total`` bytes leaves, a chunk at a time, each read when the previous one left."""
    now = start
    for _ in range(total // chunk):
        now = flow.schedule(chunk, now)
    return now


def test_mathis_cap_of_the_4g_profile() -> None:
    # 1460 B / (60 ms * sqrt(1 %)) * 1.22 = 297 kB/s, about 2.4 Mbit/s a flow.
    assert PROFILES["4G"].flow_bytes_per_second * 8 / 1e6 == pytest.approx(2.37, abs=0.01)
    assert PROFILES["3G"].flow_bytes_per_second < PROFILES["4G"].flow_bytes_per_second


def test_token_bucket_gives_its_rate_after_the_burst() -> None:
    bucket = TokenBucket(rate=1_000_000, burst=CHUNK)
    now = 0.0
    for _ in range(100):
        now = bucket.reserve(CHUNK, now)
    assert now == pytest.approx((100 * CHUNK - CHUNK) / 1_000_000)


def test_token_bucket_saves_no_more_than_its_burst_while_idle() -> None:
    bucket = TokenBucket(rate=1000, burst=500)
    assert bucket.reserve(500, 0.0) == 0.0
    assert bucket.reserve(500, 100.0) == 100.0  # a long idle refills 500, not 100 000
    assert bucket.reserve(1000, 100.0) == pytest.approx(101.0)


def test_one_flow_is_held_to_its_cap_and_the_link_is_not() -> None:
    link = Link(Profile("capped", up_mbit=80, down_mbit=80, rtt_ms=50, loss=0.01, stall_chance=0))
    seconds = send_all(link.flow("up", 0), 4 * 2**20)
    assert 4 * 2**20 / seconds == pytest.approx(link.profile.flow_bytes_per_second, rel=0.01)
    assert link.profile.flow_bytes_per_second < 80e6 / 8


def carried_by(flows: list[Flow], horizon: float) -> list[int]:
    """Bytes each flow reads in ``horizon`` seconds, all sending at once: always serve the flow that may
    read soonest, as the event loop does (the shared bucket sees time in order)."""
    free = [0.0] * len(flows)
    carried = [0] * len(flows)
    while min(free) < horizon:
        number = free.index(min(free))
        free[number] = flows[number].schedule(CHUNK, free[number])
        carried[number] += CHUNK
    return carried


def test_flows_share_the_link_when_their_caps_add_up_to_more() -> None:
    # 4G without stalls: 2.4 Mbit/s a flow, 20 Mbit/s shared. Twelve flows want 28 Mbit/s and get 20.
    profile = Profile("4G", up_mbit=20, down_mbit=50, rtt_ms=60, loss=0.01, stall_chance=0)
    link = Link(profile)
    carried = carried_by([link.flow("up", number) for number in range(12)], horizon=10)
    assert sum(carried) / 10 == pytest.approx(20e6 / 8, rel=0.02)
    assert max(carried) / min(carried) < 1.1  # fairly shared
    # Four flows fit in the link: each gets its own cap, as if alone.
    link = Link(profile)
    carried = carried_by([link.flow("up", number) for number in range(4)], horizon=10)
    assert [amount / 10 for amount in carried] == pytest.approx([profile.flow_bytes_per_second] * 4, rel=0.02)


def test_directions_have_separate_shared_buckets() -> None:
    link = Link(Profile("asymmetric", up_mbit=1, down_mbit=100, rtt_ms=10, loss=1e-6, stall_chance=0))
    up = send_all(link.flow("up", 0), 2**20)
    down = send_all(link.flow("down", 0), 2**20)
    assert up == pytest.approx(2**20 * 8 / 1e6, rel=0.02)
    assert down < up / 50


STALLING = Profile("stalls", up_mbit=100, down_mbit=100, rtt_ms=60, loss=0.01, stall_chance=0.05)


def test_stalls_are_repeatable_for_a_seed() -> None:
    first, second = Link(STALLING, seed=7).flow("up", 3), Link(STALLING, seed=7).flow("up", 3)
    assert send_all(first, 8 * 2**20) == send_all(second, 8 * 2**20)
    assert first.stalls == second.stalls > 0
    # The draws follow the bytes, not the read sizes: smaller reads meet the same stalls.
    smaller = Link(STALLING, seed=7).flow("up", 3)
    send_all(smaller, 8 * 2**20, chunk=CHUNK // 4)
    assert smaller.stalls == first.stalls
    # Other seeds, connections and directions draw other schedules.
    draws = {
        Link(STALLING, seed).flow(way, number).random.random()
        for seed in range(3)
        for number in range(3)
        for way in ("up", "down")
    }
    assert len(draws) == 18


def test_a_stall_pauses_its_flow_for_the_stall_time() -> None:
    stalling = Link(STALLING, seed=1).flow("up", 0)
    calm = Link(Profile("calm", up_mbit=100, down_mbit=100, rtt_ms=60, loss=0.01, stall_chance=0)).flow("up", 0)
    paused = send_all(stalling, 8 * 2**20) - send_all(calm, 8 * 2**20)
    assert stalling.stalls > 0
    assert paused == pytest.approx(stalling.stalls * STALLING.stall_seconds)
    assert STALLING.stall_seconds == pytest.approx(0.3)  # five round trips of 60 ms


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections: ClassVar[set[int]] = set()

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Echo.connections.add(self.client_address[1])
        answer = body[::-1]  # reversed, so that the answer is not the request by accident
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("X-Host", self.headers["Host"])
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def echo_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_proxy_forwards_both_ways_intact_over_keep_alive() -> None:
    _Echo.connections = set()
    with echo_server() as target, LinkEmulator(target, FAST) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for size in (1, 300_000, 2 * 2**20):
            body = os.urandom(size)
            connection.request("PUT", "/part", body=body, headers={"Host": f"127.0.0.1:{target}"})
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == body[::-1]
            assert response.headers["X-Host"] == f"127.0.0.1:{target}"  # the Host header goes as sent
        connection.close()
    assert len(_Echo.connections) == 1  # three requests, one upstream connection: keep-alive held


def test_the_proxy_forwards_a_half_close_and_counts_connections() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def serve() -> None:
        peer, _ = listener.accept()
        with peer:
            while data := peer.recv(65536):
                received.extend(data)
            peer.sendall(b"got " + str(len(received)).encode())  # after the client's EOF

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    emulator = LinkEmulator(listener.getsockname()[1], FAST, seed=3)
    with emulator as port, socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"x" * 100_000)
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while data := client.recv(65536):
            answer += data
    thread.join(timeout=10)
    listener.close()
    assert answer == b"got 100000"
    assert emulator.connections == 1
