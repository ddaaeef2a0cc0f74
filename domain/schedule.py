"""When each account's daily syncs and weekly autofill are due.

Each account gets its own time of day, derived from its id, so ten thousand accounts spread
over the day instead of all hitting Harvest at midnight. Slots are identified by their time:
the same slot computed by two schedulers, or twice after a restart, is the same slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.autofill import week_label
from domain.commands import AutofillWeek, Command, SyncActuals, SyncEntities

DAY = timedelta(days=1)
# Actuals go a while after entities, so the people and projects they need are there.
ACTUALS_AFTER_ENTITIES = timedelta(minutes=30)
# Autofill waits into the new week: the last day's hours have a night to arrive.
AUTOFILL_AFTER_WEEK_END = timedelta(hours=6)


@dataclass(frozen=True)
class AccountSchedule:
    account_id: int
    timezone: str
    clients_projects: bool
    people: bool
    actuals: bool
    autofill: bool


@dataclass(frozen=True)
class Slot:
    account_id: int
    kind: str  # entities | actuals | autofill
    at: datetime
    command: Command


def daily_offset(account_id: int) -> timedelta:
    """A stable time of day for the account, uniform over 24 hours."""
    digest = hashlib.sha256(str(account_id).encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % 86_400)


def _daily_slots(acct: AccountSchedule, day: date) -> list[Slot]:
    start = datetime.combine(day, time(), UTC) + daily_offset(acct.account_id)
    slots = []
    wanted = (("clients_projects", acct.clients_projects), ("people", acct.people))
    kinds = tuple(k for k, on in wanted if on)
    if kinds:
        slots.append(
            Slot(acct.account_id, "entities", start, SyncEntities(acct.account_id, kinds, _iso(start)))
        )
    if acct.actuals:
        at = start + ACTUALS_AFTER_ENTITIES
        # Once a week the sync also checks our totals against Harvest's own reports.
        verify = day.isoweekday() == verify_weekday(acct.account_id)
        slots.append(
            Slot(acct.account_id, "actuals", at, SyncActuals(acct.account_id, _iso(at), verify=verify))
        )
    return slots


def verify_weekday(account_id: int) -> int:
    """The ISO weekday of the account's weekly verification, spread over the week (its
    reports have a limit of their own, and ten thousand accounts need not check on Monday)."""
    digest = hashlib.sha256(f"verify:{account_id}".encode()).digest()
    return 1 + digest[0] % 7


def _autofill_slot(acct: AccountSchedule, monday: date) -> Slot:
    """The slot for autofilling the week that ends the Sunday before `monday` (local time)."""
    local_start = datetime.combine(monday, time(), ZoneInfo(acct.timezone))
    at = (local_start + AUTOFILL_AFTER_WEEK_END + daily_offset(acct.account_id) / 4).astimezone(UTC)
    week = week_label(monday - timedelta(days=7))
    return Slot(acct.account_id, "autofill", at, AutofillWeek(acct.account_id, week, _iso(at)))


def slots_between(acct: AccountSchedule, start: datetime, end: datetime) -> list[Slot]:
    """Every slot of the account with start < at <= end."""
    out = []
    day = (start - DAY).date()
    while day <= end.date():
        out.extend(_daily_slots(acct, day))
        if acct.autofill and acct.actuals and day.isoweekday() == 1:
            out.append(_autofill_slot(acct, day))
        day += DAY
    return sorted((s for s in out if start < s.at <= end), key=lambda s: s.at)


def due_slots(accounts: list[AccountSchedule], now: datetime, catch_up: timedelta) -> list[Slot]:
    """Slots due by `now`, looking back `catch_up` for the ones a downtime missed."""
    return [s for acct in accounts for s in slots_between(acct, now - catch_up, now)]


def next_slot(acct: AccountSchedule, kind: str, now: datetime) -> datetime | None:
    upcoming = [s.at for s in slots_between(acct, now, now + timedelta(days=8)) if s.kind == kind]
    return upcoming[0] if upcoming else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
