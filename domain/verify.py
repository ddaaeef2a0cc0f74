"""Our totals against Harvest's own: its time reports (hours per project and per person over a
range of spent dates) compared with the sums of the entries we hold, to the 0.01 h Harvest
shows. Harvest reports at most 365 days at a time, so a longer range is compared piece by
piece; a subject that differs in any piece differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

REPORT_MAX_DAYS = 365
CENT = Decimal("0.01")
# subject -> (Harvest's report, its id field, its name field)
SUBJECTS = {
    "project": ("projects", "project_id", "project_name"),
    "person": ("team", "user_id", "user_name"),
}


class Reports(Protocol):
    def report(self, kind: str, start: date, end: date) -> list[dict]: ...


class OurHours(Protocol):
    def hours_by(self, subject: str, start: date, end: date) -> dict[int, Decimal]: ...


@dataclass(frozen=True)
class Compared:
    """One project or person over the whole range: Harvest's hours, ours, and whether they
    differed in any piece."""

    subject: str
    harvest_id: int
    name: str | None
    harvest_hours: Decimal
    our_hours: Decimal
    differs: bool


def pieces(start: date, end: date) -> list[tuple[date, date]]:
    """start..end in consecutive ranges of at most REPORT_MAX_DAYS days, both inclusive."""
    out = []
    while start <= end:
        last = min(end, start + timedelta(days=REPORT_MAX_DAYS - 1))
        out.append((start, last))
        start = last + timedelta(days=1)
    return out


def cents(hours: Decimal) -> Decimal:
    return hours.quantize(CENT, rounding=ROUND_HALF_UP)


def harvest_totals(
    rows: Iterable[dict], id_field: str, name_field: str
) -> dict[int, tuple[str | None, Decimal]]:
    """Hours per id from a report's rows. The team report has one row per person and
    currency: a person's rows are summed."""
    totals: dict[int, tuple[str | None, Decimal]] = {}
    for row in rows:
        key = int(row[id_field])
        name, hours = totals.get(key, (row.get(name_field), Decimal(0)))
        totals[key] = (name, hours + Decimal(str(row.get("total_hours") or 0)))
    return totals


def compare(reports: Reports, ours: OurHours, start: date, end: date) -> list[Compared]:
    """Every project and person Harvest or we have hours for in start..end."""
    merged: dict[tuple[str, int], Compared] = {}
    for first, last in pieces(start, end):
        for subject, (kind, id_field, name_field) in SUBJECTS.items():
            theirs = harvest_totals(reports.report(kind, first, last), id_field, name_field)
            mine = ours.hours_by(subject, first, last)
            for key in theirs.keys() | mine.keys():
                name, harvest_hours = theirs.get(key, (None, Decimal(0)))
                our_hours = cents(mine.get(key, Decimal(0)))
                piece = Compared(subject, key, name, harvest_hours, our_hours, harvest_hours != our_hours)
                merged[(subject, key)] = _add(merged.get((subject, key)), piece)
    return sorted(merged.values(), key=lambda c: (c.subject, c.name or "", c.harvest_id))


def _add(so_far: Compared | None, piece: Compared) -> Compared:
    if so_far is None:
        return piece
    return Compared(
        piece.subject,
        piece.harvest_id,
        so_far.name or piece.name,
        so_far.harvest_hours + piece.harvest_hours,
        so_far.our_hours + piece.our_hours,
        so_far.differs or piece.differs,
    )


def default_range(start_date: date | None, held: tuple[date, date] | None, today: date) -> tuple[date, date]:
    """What to verify when not told: the account's actuals from their start (or the oldest
    entry we hold) to today (or the newest entry, if dated later)."""
    oldest, newest = held or (today, today)
    start = start_date or oldest
    return start, max(today, newest, start)
