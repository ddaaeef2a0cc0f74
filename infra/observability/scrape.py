"""A read done at scrape time, cached for a while, shared by concurrent scrapes.

A failed read is cached too (as None), so a dead database or broker does not make every
scrape wait for its connect timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")


class CachedRead(Generic[T]):
    def __init__(
        self,
        load: Callable[[], T],
        *,
        ttl_s: float,
        failure_event: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._failure_event = failure_event
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value: T | None = None
        self._read_at: float | None = None

    def get(self) -> T | None:
        """The cached value, read again once ``ttl_s`` has passed; None if that read failed."""
        with self._lock:  # concurrent scrapes share one read
            now = self._monotonic()
            if self._read_at is None or now - self._read_at >= self._ttl_s:
                try:
                    self._value = self._load()
                except Exception as exc:
                    log.warning(self._failure_event, error_type=type(exc).__name__)
                    self._value = None
                self._read_at = now
            return self._value
