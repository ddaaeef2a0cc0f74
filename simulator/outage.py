"""Harvest down for a stretch of time: /v2 answers 503 or drops connections until a deadline.

The outage is a deadline on the monotonic clock, not a timer thread: it ends by itself the
moment it is over, with nothing to cancel or join on shutdown. The listening socket stays
open throughout ("refuse" resets each connection once it sends a /v2 request) so that /_sim
keeps answering and the port can never be lost to another process.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from simulator.http_types import Response, html_page, html_response

MODES = ("503", "refuse")


class Outage:
    """The current outage, if any: its mode and when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode: str | None = None
        self._until = 0.0

    def start(self, seconds: float, mode: str = "503") -> dict[str, Any]:
        """Begin an outage lasting `seconds` from now (replacing any current one)."""
        seconds = _check_seconds(seconds)
        _check_mode(mode)
        with self._lock:
            self._mode = mode
            self._until = time.monotonic() + seconds
        return self.status()

    def end(self) -> None:
        """End the outage now (a no-op when none is running)."""
        with self._lock:
            self._mode = None

    def mode(self) -> str | None:
        """The mode of the outage running now, or None."""
        with self._lock:
            return self._current()

    def status(self) -> dict[str, Any]:
        """``{"active", "mode", "remaining_s"}`` as the control API shows it."""
        with self._lock:
            mode = self._current()
            remaining = max(0.0, self._until - time.monotonic()) if mode is not None else 0.0
        return {"active": mode is not None, "mode": mode, "remaining_s": round(remaining, 3)}

    def _current(self) -> str | None:
        # Caller holds the lock. Forgetting the mode once past the deadline keeps status()
        # from reporting an outage that is over.
        if self._mode is not None and time.monotonic() >= self._until:
            self._mode = None
        return self._mode


def _check_seconds(seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError("seconds must be a number")
    # json.loads accepts Infinity and NaN; an outage that never ends is not what a test wants.
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("seconds must be a positive, finite number")
    return float(seconds)


def _check_mode(mode: Any) -> None:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}, got {mode!r}")


def unavailable() -> Response:
    """A load balancer's answer with no healthy backend: HTML, and no Retry-After to go by."""
    page = html_page("503 Service Unavailable", "No server is available to handle this request.")
    return html_response(503, page)
