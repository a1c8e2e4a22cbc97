"""A phone-like link on loopback: a TCP proxy in front of the local cloud's port that shapes what goes
through it, so that the upload bench can say what parallel parts and checksums buy on a cellular link.

``with LinkEmulator(cloud_port, "4G") as port:`` connect to ``127.0.0.1:port`` instead of the cloud's
port; every connection is forwarded as it is, both ways (so HTTP keep-alive just works), shaped so:

- bandwidth: one token bucket per direction for the whole link (all connections share the uplink's
  20 Mbit/s on 4G), and one per connection and direction for the cap below; a chunk goes when both
  buckets allow it;
- round-trip time: every chunk is delivered half an RTT after the buckets release it (each way, so a
  request and its answer see one RTT), without holding back the chunks behind it; a new connection
  waits one RTT before its first byte goes (the TCP handshake). Slow start is not modelled;
- loss: a proxy on loopback never sees a lost packet (TCP below it repairs them), so loss is modelled
  by what it does to a TCP flow: a per-connection throughput cap from Mathis' formula,
  MSS / (RTT * sqrt(p)) * 1.22 (about 2.4 Mbit/s at 60 ms and 1 %), and now and then a stall (a
  retransmission timeout) of several RTTs, at least Linux's 200 ms minimum RTO. Stalls are drawn once
  per 64 KiB a connection carries, from a generator seeded by the seed, the connection's number and the
  direction, so the same run sees the same stalls whatever sizes the socket reads happen to return.

The shaping itself (:class:`TokenBucket`, :class:`Link`, :class:`Flow`) takes the time as an argument,
so tests check it on a fake clock; the proxy runs an asyncio loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import threading
from dataclasses import dataclass
from types import TracebackType

MATHIS_CONSTANT = 1.22  # sqrt(3/2): Reno with delayed ACKs off
CHUNK = 16 * 1024  # bytes read and forwarded at a time
STALL_SEGMENT = 64 * 1024  # one stall draw per this many bytes of a flow
MIN_RTO_SECONDS = 0.2  # Linux's floor for a retransmission timeout


@dataclass(frozen=True)
class Profile:
    name: str
    up_mbit: float  # phone -> cloud, shared by every connection
    down_mbit: float  # cloud -> phone, shared by every connection
    rtt_ms: float
    loss: float  # packet loss rate: becomes a per-flow cap (Mathis) and stalls
    stall_chance: float  # per STALL_SEGMENT of a flow: the chance that a loss ends in a timeout
    stall_rtts: float = 5  # what a stall costs, in round trips
    mss: int = 1460

    @property
    def rtt(self) -> float:
        return self.rtt_ms / 1000

    @property
    def flow_bytes_per_second(self) -> float:
        """What one TCP flow gets at this RTT and loss (Mathis et al. 1997)."""
        return self.mss / (self.rtt * math.sqrt(self.loss)) * MATHIS_CONSTANT

    @property
    def stall_seconds(self) -> float:
        return max(MIN_RTO_SECONDS, self.stall_rtts * self.rtt)

    def describe(self) -> dict[str, float | str]:
        return {
            "upMbit": self.up_mbit,
            "downMbit": self.down_mbit,
            "rttMs": self.rtt_ms,
            "loss": self.loss,
            "perFlowMbit": round(self.flow_bytes_per_second * 8 / 1e6, 2),
            "stallChancePer64KiB": self.stall_chance,
            "stallSeconds": self.stall_seconds,
        }


PROFILES = {
    # A decent 4G uplink; about one loss event in twenty ends in a timeout rather than a fast retransmit.
    "4G": Profile("4G", up_mbit=20, down_mbit=50, rtt_ms=60, loss=0.01, stall_chance=0.02),
    "3G": Profile("3G", up_mbit=5, down_mbit=10, rtt_ms=150, loss=0.02, stall_chance=0.04),
}


class TokenBucket:
    """``rate`` bytes a second, up to ``burst`` saved while idle. A taker may overdraw: it is told when
    its bytes may go, and the takers after it wait behind the debt."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp: float | None = None  # the bucket starts full whenever it is first used

    def _refill(self, now: float) -> None:
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        if self.stamp is None or now > self.stamp:
            self.stamp = now

    def reserve(self, size: int, now: float) -> float:
        """When ``size`` bytes taken at ``now`` may go."""
        self._refill(now)
        self.tokens -= size
        return now if self.tokens >= 0 else now + -self.tokens / self.rate

    def pause(self, seconds: float, now: float) -> None:
        """Nothing goes for ``seconds`` (more, if already in debt)."""
        self._refill(now)
        self.tokens = min(self.tokens, 0) - seconds * self.rate


class Flow:
    """One direction of one connection: its own cap and stalls, and the link's shared bucket."""

    def __init__(self, profile: Profile, shared: TokenBucket, stalls: random.Random) -> None:
        self.own = TokenBucket(profile.flow_bytes_per_second, CHUNK)
        self.shared = shared
        self.delay = profile.rtt / 2
        self.stall_chance = profile.stall_chance
        self.stall_seconds = profile.stall_seconds
        self.random = stalls
        self.carried = 0
        self.next_draw = STALL_SEGMENT
        self.stalls = 0

    def schedule(self, size: int, now: float) -> float:
        """When ``size`` bytes read at ``now`` leave the phone (they arrive ``self.delay`` later)."""
        self.carried += size
        while self.carried >= self.next_draw:
            self.next_draw += STALL_SEGMENT
            if self.random.random() < self.stall_chance:
                self.own.pause(self.stall_seconds, now)
                self.stalls += 1
        return max(self.own.reserve(size, now), self.shared.reserve(size, now))


class Link:
    """The shaping state of one emulated link: a shared bucket each way, and the flows made so far."""

    def __init__(self, profile: Profile, seed: int = 0) -> None:
        self.profile = profile
        self.seed = seed
        self.shared = {
            "up": TokenBucket(profile.up_mbit * 1e6 / 8, CHUNK),
            "down": TokenBucket(profile.down_mbit * 1e6 / 8, CHUNK),
        }
        self.flows: list[Flow] = []

    def flow(self, direction: str, connection: int) -> Flow:
        # A generator per flow: connection n's stalls do not depend on how the others' reads interleave.
        stalls = random.Random(f"{self.seed}/{connection}/{direction}")
        flow = Flow(self.profile, self.shared[direction], stalls)
        self.flows.append(flow)
        return flow

    @property
    def stalls(self) -> int:
        return sum(flow.stalls for flow in self.flows)


class LinkEmulator:
    """``with LinkEmulator(target_port, "4G") as port:`` a shaped TCP proxy to 127.0.0.1:target_port."""

    def __init__(self, target_port: int, profile: Profile | str, *, seed: int = 0, host: str = "127.0.0.1") -> None:
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.target = (host, target_port)
        self.host = host
        self.link = Link(self.profile, seed)
        self.port = 0
        self.connections = 0
        self._numbers = itertools.count()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> int:
        self._thread = threading.Thread(target=self._run, name=f"link-{self.profile.name}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise RuntimeError(f"the {self.profile.name} link emulator did not start") from self._failure
        return self.port

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # noqa: BLE001 - handed to the thread that waits in __enter__
            self._failure = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(self._serve(reader, writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        server = await asyncio.start_server(accept, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        number = next(self._numbers)
        self.connections += 1
        await asyncio.sleep(self.profile.rtt)  # the handshake: the first byte goes one round trip later
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                self._pump(client_reader, server_writer, self.link.flow("up", number)),
                self._pump(server_reader, client_writer, self.link.flow("down", number)),
            )
        finally:
            for writer in (client_writer, server_writer):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flow: Flow) -> None:
        """Read as the link allows; deliver each chunk half an RTT after it left, in order, while the
        next chunks are already on their way (the delay is latency, not a cap on throughput)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            with contextlib.suppress(OSError):
                while data := (item := await queue.get())[1]:
                    await asyncio.sleep(max(0.0, item[0] - loop.time()))
                    writer.write(data)
                    await writer.drain()
                await asyncio.sleep(max(0.0, item[0] - loop.time()))
                if writer.can_write_eof():
                    writer.write_eof()  # a half-close goes through as one

        delivery = asyncio.ensure_future(deliver())
        try:
            with contextlib.suppress(OSError):
                while data := await reader.read(CHUNK):
                    leaves = flow.schedule(len(data), loop.time())
                    await asyncio.sleep(max(0.0, leaves - loop.time()))
                    queue.put_nowait((leaves + flow.delay, data))
            queue.put_nowait((loop.time() + flow.delay, b""))
            await delivery
        finally:
            delivery.cancel()
