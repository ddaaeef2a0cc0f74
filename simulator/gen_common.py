"""Shared pieces of the deterministic generator: sizes, timeline, id sequences."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date

from simulator.schema import ID_BASES


@dataclass(frozen=True)
class Sizes:
    """How big the generated account is."""

    people: int = 20
    projects: int = 10
    clients: int = 5
    days: int = 30
    entries_per_day: float = 2.0


@dataclass(frozen=True)
class Timeline:
    """Instants the generated history is placed between (epoch seconds, UTC)."""

    birth: int  # account creation
    window_start: int  # first day with time entries, 00:00 UTC
    cutoff: int  # no timestamp may be later than this (now, when end_date is today)
    first_day: date
    end_date: date
    horizon: int  # last second of end_date: edits are spread up to here, then capped at cutoff


class IdSequence:
    """Increasing ids per collection with small random gaps, like a shared id space."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last = dict(ID_BASES)

    def next(self, collection: str) -> int:
        """The next id of ``collection``."""
        self._last[collection] += 1 + int(self._rng.random() * 4)
        return self._last[collection]


def stamps(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    """``count`` sorted creation instants in [low, high], so ids follow creation order."""
    return sorted(rng.randint(low, max(low, high)) for _ in range(count))


def later(rng: random.Random, created: int, tl: Timeline, probability: float) -> int:
    """An updated_at: usually the creation instant, sometimes a later edit.

    Always draws exactly two numbers and never lets the wall clock choose a range: the
    random stream, and so every id after it, must not depend on when the account was made.
    """
    edited, fraction = rng.random(), rng.random()
    if edited >= probability or created >= tl.horizon:
        return created
    return min(tl.cutoff, created + int(fraction * (tl.horizon - created)))


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters and digits of ``text`` (for emails and codes)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())
