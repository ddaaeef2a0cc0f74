"""Time as the rules see it: a clock is a function returning an aware UTC datetime, so tests
and simulations can set it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
