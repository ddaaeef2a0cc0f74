"""Rate limiting (sliding window per token) and random fault injection for /v2 routes."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass

from simulator.config import SimConfig


class RateLimiter:
    """Sliding window of served requests per token (Harvest: 100 per 15 s).

    Only admitted requests enter the window: whether Harvest counts refused requests is
    unknown, and counting them would let a client that ignores Retry-After lock itself
    out forever.
    """

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, token: str, limit: int, window_s: float) -> int | None:
        """Record a request; return None if admitted, else Retry-After seconds (>= 1)."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(token, deque())
            horizon = now - window_s
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) >= limit:
                # The slot frees when the oldest request of the window expires.
                return max(1, math.ceil(window[len(window) - limit] + window_s - now))
            window.append(now)
            return None

    def reset(self) -> None:
        """Forget every window (e.g. after changing the limit in a test)."""
        with self._lock:
            self._windows.clear()


@dataclass(frozen=True)
class Fault:
    """An injected misbehaviour: ``kind`` is error, rate_limit, timeout or slow."""

    kind: str
    status: int = 0
    delay_s: float = 0.0
    html: bool = False


class FaultInjector:
    """Rolls the dice of the configured fault rates for each /v2 request."""

    def __init__(self) -> None:
        self._rng = random.Random()
        self._seed: int | None = None
        self._lock = threading.Lock()

    def pick(self, config: SimConfig) -> Fault | None:
        """A fault to apply to this request, or None. Rates are checked in a fixed order."""
        with self._lock:
            if config.fault_seed != self._seed:
                self._seed = config.fault_seed
                self._rng = random.Random(config.fault_seed)
            roll = self._rng.random
            if config.error_rate and roll() < config.error_rate:
                status = self._rng.choice((500, 502, 503))
                # A 500 from the app is JSON; gateway errors come from the proxy as HTML.
                html = status != 500 or roll() < 0.5
                return Fault("error", status=status, html=html)
            if config.rate_limit_fault_rate and roll() < config.rate_limit_fault_rate:
                return Fault("rate_limit", status=429)
            if config.timeout_rate and roll() < config.timeout_rate:
                return Fault("timeout", delay_s=config.slow_seconds or 30.0)
            if config.slow_rate and roll() < config.slow_rate:
                return Fault("slow", delay_s=config.slow_seconds)
            return None
