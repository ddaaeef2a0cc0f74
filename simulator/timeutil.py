"""Time helpers: Harvest prints UTC timestamps to the second with a trailing ``Z``.

Timestamps are kept as integer epoch seconds everywhere inside the simulator, which keeps
records small and comparisons cheap; they are only turned into strings when rendered.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

_EPOCH_DAY = date(1970, 1, 1)
# Day prefixes repeat for thousands of records per page; caching them makes rendering a
# timestamp a divmod and an f-string instead of a strftime call.
_DAY_PREFIX: dict[int, str] = {}


def format_ts(ts: int | None) -> str | None:
    """Render epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (None stays None)."""
    if ts is None:
        return None
    day, seconds = divmod(ts, 86400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = (_EPOCH_DAY + timedelta(days=day)).isoformat()
        _DAY_PREFIX[day] = prefix
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{prefix}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


def parse_instant(value: str) -> float:
    """Parse an ISO 8601 date or datetime into epoch seconds (naive means UTC).

    Raises ValueError for anything else. Fractions of a second are kept, so an exclusive
    ``updated_since=...T10:00:00.5Z`` still matches a record stamped at 10:00:01.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty timestamp")
    if len(text) <= 10:
        parsed_date = date.fromisoformat(text)
        return float((parsed_date - _EPOCH_DAY).days * 86400)
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def to_epoch(value: object) -> int:
    """Accept epoch seconds or an ISO 8601 string and return whole epoch seconds."""
    if isinstance(value, bool):
        raise ValueError("a timestamp cannot be a boolean")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        return int(parse_instant(value))
    raise ValueError(f"not a timestamp: {value!r}")


def parse_date(value: object) -> str:
    """Validate a calendar date and return it as ``YYYY-MM-DD``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    return date.fromisoformat(value.strip()).isoformat()


def day_start(day: date) -> int:
    """Epoch seconds of midnight UTC at the start of ``day``."""
    return (day - _EPOCH_DAY).days * 86400


class Clock:
    """Wall clock with an adjustable offset, so tests get distinct updated_at seconds without
    sleeping. Only record stamping uses it; rate limiting runs on the real monotonic clock."""

    def __init__(self) -> None:
        self._offset = 0
        self._lock = threading.Lock()

    @property
    def offset_seconds(self) -> int:
        """Current shift applied to the real time, in seconds."""
        return self._offset

    def set_offset(self, seconds: int) -> None:
        """Shift "now" to real time plus ``seconds``."""
        with self._lock:
            self._offset = int(seconds)

    def advance(self, seconds: int) -> None:
        """Move "now" forward by ``seconds`` on top of the current offset."""
        with self._lock:
            self._offset += int(seconds)

    def now(self) -> int:
        """Simulated now, as whole epoch seconds."""
        return int(time.time()) + self._offset
