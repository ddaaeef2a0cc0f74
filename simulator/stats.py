"""Request counters for /v2 traffic, read by tests and benchmarks through /_sim/stats."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Counts /v2 requests by status, by path template and by account; 429s separately.

    Outages are counted apart as well: their 503s also count as answered requests, their
    resets do not (no answer was sent).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._requests = 0
            self._by_status: Counter[str] = Counter()
            self._by_path: Counter[str] = Counter()
            self._by_account: Counter[str] = Counter()
            self._rate_limited = 0
            self._faults_injected = 0
            self._outage_503s = 0
            self._outage_resets = 0

    def record(
        self, status: int, template: str, account_id: int | None, injected: bool, outage: bool = False
    ) -> None:
        """Count one answered /v2 request (`outage`: answered by the outage, not by Harvest)."""
        with self._lock:
            self._requests += 1
            self._by_status[str(status)] += 1
            self._by_path[template] += 1
            if account_id is not None:
                self._by_account[str(account_id)] += 1
            if status == 429:
                self._rate_limited += 1
            if injected:
                self._faults_injected += 1
            if outage:
                self._outage_503s += 1

    def record_outage_reset(self) -> None:
        """Count one /v2 request whose connection an outage reset."""
        with self._lock:
            self._outage_resets += 1

    def snapshot(self) -> dict[str, Any]:
        """Counters as a JSON-ready dict."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_status": dict(self._by_status),
                "by_path": dict(self._by_path),
                "by_account": dict(self._by_account),
                "rate_limited": self._rate_limited,
                "faults_injected": self._faults_injected,
                "outage_503s": self._outage_503s,
                "outage_resets": self._outage_resets,
            }
