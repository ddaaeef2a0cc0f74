"""How far a run has got, from the progress its consumer writes (see sync_runs.progress):
entries done out of Harvest's total_entries, the rate, and what it waits on. Every key may be
absent (older rows, entity runs), so each figure is optional."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Progress:
    entries: int | None
    total_entries: int | None
    pages: int | None
    rate_per_s: float | None
    waiting: str | None
    retries: int

    @property
    def fraction(self) -> float | None:
        """Done out of the total, 0..1; None when Harvest's total is unknown."""
        if self.total_entries is None or self.entries is None or self.total_entries <= 0:
            return None
        return min(1.0, self.entries / self.total_entries)

    @property
    def eta_s(self) -> float | None:
        if self.fraction is None or not self.rate_per_s or self.entries is None:
            return None
        assert self.total_entries is not None
        return max(0.0, (self.total_entries - self.entries) / self.rate_per_s)


def read_progress(progress: Mapping[str, object], started_at: datetime | None, now: datetime) -> Progress:
    """`now` stands in for the `at` key when a consumer did not write one."""
    entries = _count(progress.get("entries"))
    if entries is None:
        entries = _count(progress.get("entries.received"))
    at = _moment(progress.get("at")) or now
    rate = None
    if entries and started_at is not None:
        elapsed = (at - started_at).total_seconds()
        rate = entries / elapsed if elapsed > 0 else None
    waiting = progress.get("waiting")
    return Progress(
        entries=entries,
        total_entries=_count(progress.get("total_entries")),
        pages=_count(progress.get("pages")),
        rate_per_s=rate,
        waiting=waiting if isinstance(waiting, str) and waiting else None,
        retries=_count(progress.get("retries")) or 0,
    )


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, int(value))


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
