"""Spans of spent dates: how Harvest's time entries are narrowed (`from` / `to`, inclusive)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Span:
    """Spent dates from `start` to `end`, both inclusive; None leaves that side open."""

    start: date | None
    end: date | None

    def as_params(self) -> dict[str, str]:
        """Harvest's `from` / `to` filters (both inclusive) for this span."""
        params = {}
        if self.start is not None:
            params["from"] = self.start.isoformat()
        if self.end is not None:
            params["to"] = self.end.isoformat()
        return params

    def within(self, outer: Span) -> Span:
        """This span, cut to what `outer` covers."""
        starts = [d for d in (self.start, outer.start) if d is not None]
        ends = [d for d in (self.end, outer.end) if d is not None]
        return Span(max(starts) if starts else None, min(ends) if ends else None)

    def is_empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start > self.end

    def covers(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


ALL_HISTORY = Span(None, None)
