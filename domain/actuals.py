"""Actuals rules: how one Harvest time entry counts, as pure functions.

An actual is one (person, project, role, day) with billable and non-billable minutes. Each
entry is rounded to the nearest minute on its own (as Runn does), then summed by its own
billable flag. An entry that cannot count is held, with a reason, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import NamedTuple

SYNC_OFF_TAG = "sync_off"


class HoldReason(StrEnum):
    PERSON_NOT_IMPORTED = "person_not_imported"
    PROJECT_NOT_IMPORTED = "project_not_imported"
    PROJECT_SYNC_OFF = "project_sync_off"
    ROLE_UNKNOWN = "role_unknown"


class HarvestEntry(NamedTuple):
    """The fields of a Harvest time entry that actuals depend on. A value object; a tuple
    because a sync makes one per entry (a first sync, ~750k) and a tuple is built in half the
    time of a frozen dataclass."""

    harvest_id: int
    harvest_user_id: int
    harvest_project_id: int
    spent_date: date
    hours: Decimal
    billable: bool
    is_running: bool
    updated_at: datetime


@dataclass(frozen=True)
class PersonFacts:
    person_id: int
    role_id: int
    role_is_unknown: bool


@dataclass(frozen=True)
class ProjectFacts:
    project_id: int
    sync_off: bool


@dataclass(frozen=True)
class AssignmentSpan:
    assignment_id: int
    role_id: int
    start_date: date
    end_date: date


# An actual's identity: (person id, project id, role id, day).
Key = tuple[int, int, int, date]


class Applied(NamedTuple):
    """What of an entry counts in actuals (a tuple, as HarvestEntry is)."""

    person_id: int
    project_id: int
    role_id: int
    date: date
    minutes: int
    billable: bool

    @property
    def key(self) -> Key:
        return (self.person_id, self.project_id, self.role_id, self.date)


def entry_minutes(hours: Decimal) -> int:
    """Hours to whole minutes, half up: 0.0083 h (29.9 s) -> 0, 0.0084 h (30.2 s) -> 1."""
    return int((Decimal(hours) * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def role_on(day: date, assignments: list[AssignmentSpan], person_role_id: int) -> int:
    """The role of the person's assignment on that project that day, else the person's role.

    Overlapping assignments: the one that started last wins (then the newest), as the most
    specific plan for that day.
    """
    covering = [a for a in assignments if a.start_date <= day <= a.end_date]
    if not covering:
        return person_role_id
    return max(covering, key=lambda a: (a.start_date, a.assignment_id)).role_id


def resolve(
    entry: HarvestEntry,
    person: PersonFacts | None,
    project: ProjectFacts | None,
    assignments: list[AssignmentSpan],
) -> Applied | HoldReason:
    if person is None:
        return HoldReason.PERSON_NOT_IMPORTED
    if project is None:
        return HoldReason.PROJECT_NOT_IMPORTED
    if project.sync_off:
        return HoldReason.PROJECT_SYNC_OFF
    if person.role_is_unknown:
        return HoldReason.ROLE_UNKNOWN
    return Applied(
        person_id=person.person_id,
        project_id=project.project_id,
        role_id=role_on(entry.spent_date, assignments, person.role_id),
        date=entry.spent_date,
        minutes=entry_minutes(entry.hours),
        billable=entry.billable,
    )


def supersedes(incoming: HarvestEntry, stored: HarvestEntry | None) -> bool:
    """Whether a version Harvest gave us replaces the stored one. An older version never does;
    an equal updated_at with other values does (a running timer that grew, or a second edit in
    the same second: Harvest's timestamps have second precision)."""
    if stored is None or incoming.updated_at > stored.updated_at:
        return True
    return incoming.updated_at == stored.updated_at and incoming != stored


def hold_stands(reason: str, person: PersonFacts | None, project: ProjectFacts | None) -> bool:
    """Whether an entry held for `reason` is still held for it, given its person and project
    now. Exact without the entry itself: resolve() decides every hold from the person and
    the project alone, before it looks at the entry (whose other fields only matter when
    nothing holds it)."""
    outcome = resolve(_PROBE, person, project, [])
    return isinstance(outcome, HoldReason) and outcome.value == reason


_PROBE = HarvestEntry(0, 0, 0, date.min, Decimal(0), False, False, datetime.min.replace(tzinfo=UTC))


def keeps_previous(reason: HoldReason) -> bool:
    """A sync_off project keeps what was imported before the tag; other holds count nothing."""
    return reason is HoldReason.PROJECT_SYNC_OFF


def entry_from_harvest(obj: dict) -> HarvestEntry:
    return HarvestEntry(
        harvest_id=int(obj["id"]),
        harvest_user_id=int(obj["user"]["id"]),
        harvest_project_id=int(obj["project"]["id"]),
        spent_date=date.fromisoformat(obj["spent_date"]),
        hours=Decimal(str(obj.get("hours") or 0)),
        billable=bool(obj.get("billable")),
        is_running=bool(obj.get("is_running")),
        updated_at=datetime.fromisoformat(obj["updated_at"].replace("Z", "+00:00")),
    )


def split_history(oldest: date, newest: date, total_entries: int, per_part: int) -> list[tuple[date, date]]:
    """Split a first sync's history into spent-date ranges of about `per_part` entries each, so
    several workers can share it. Ranges are contiguous, cover oldest..newest, and never split a
    day (actuals are per day, so two parts never write the same actual)."""
    days = (newest - oldest).days + 1
    parts = max(1, min(days, -(-total_entries // max(1, per_part))))
    out = []
    start = oldest
    for i in range(parts):
        end = oldest + timedelta(days=(days * (i + 1)) // parts - 1)
        if end >= start:
            out.append((start, end))
            start = end + timedelta(days=1)
    return out
