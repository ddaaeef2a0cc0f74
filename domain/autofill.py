"""Autofill actuals (the seed's "Autofill Actuals"): at the end of each week, a scheduled day
with no actual gets an actual of zero minutes, marked autofilled, so planned-versus-actual
totals show the gap instead of hiding it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.actuals import Key

DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(text: str) -> date:
    """'2026-W47' -> the Monday that starts it."""
    match = WEEK.match(text)
    if not match:
        raise ValueError(f"a week looks like 2026-W47, got {text!r}")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValueError(f"there is no week {text}") from None


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def last_finished_week(now: datetime, timezone: str) -> date:
    """Monday of the latest week (Monday to Sunday) that has ended in the account's zone."""
    local = now.astimezone(ZoneInfo(timezone)).date()
    this_monday = local - timedelta(days=local.isoweekday() - 1)
    return this_monday - timedelta(days=7)


def parse_working_days(text: str) -> tuple[int, ...]:
    """'mon,tue,wed' -> (1, 2, 3)."""
    days = []
    for part in text.split(","):
        name = part.strip().lower()[:3]
        if name not in DAY_NAMES:
            raise ValueError(f"working days are names like mon,tue,wed; got {part.strip()!r}")
        days.append(DAY_NAMES[name])
    if not days:
        raise ValueError("at least one working day is needed")
    return tuple(sorted(set(days)))


@dataclass(frozen=True)
class Scheduled:
    """An assignment as autofill sees it."""

    person_id: int
    project_id: int
    role_id: int
    start_date: date
    end_date: date
    minutes_per_day: int


def zero_days(
    monday: date,
    assignments: list[Scheduled],
    *,
    working_days: tuple[int, ...],
    time_off: dict[int, list[tuple[date, date]]],
    existing: set[Key],
) -> list[Key]:
    """The (person, project, role, day) keys of the week that get an autofilled zero: scheduled
    minutes that day, a working day, the person not off, and no actual there yet."""
    out: set[Key] = set()
    for a in assignments:
        if a.minutes_per_day <= 0:
            continue
        for offset in range(7):
            day = monday + timedelta(days=offset)
            if not (a.start_date <= day <= a.end_date) or day.isoweekday() not in working_days:
                continue
            if any(start <= day <= end for start, end in time_off.get(a.person_id, [])):
                continue
            key = (a.person_id, a.project_id, a.role_id, day)
            if key not in existing:
                out.add(key)
    return sorted(out)
