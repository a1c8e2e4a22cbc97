"""Pacing an upload's parallel parts: a shared byte budget (``--max-rate``) and the progress total."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class RateLimiter:
    """A shared token bucket: ``--max-rate`` caps the bytes per second over all parallel parts."""

    def __init__(self, bytes_per_second: float | None) -> None:
        self.rate = bytes_per_second
        self.lock = threading.Lock()
        self.next_free = time.monotonic()

    def take(self, amount: int) -> None:
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_free)
            self.next_free = start + amount / self.rate
        time.sleep(max(0.0, start - now))


@dataclass
class Progress:
    total: int
    on_change: Callable[[int, int], None]
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, amount: int) -> None:
        with self.lock:
            self.done += amount
            done = self.done
        self.on_change(done, self.total)
