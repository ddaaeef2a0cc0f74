"""Generated time entries: the hot loop that may run 750k times, so it avoids per-entry
allocations beyond the entry itself (shared floats, strings and nested dicts)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator import names
from simulator.gen_common import IdSequence, Timeline
from simulator.store import AccountStore
from simulator.time_entries import TimeEntry, billable_rate_for, rounded
from simulator.timeutil import day_start

Record = dict[str, Any]
# (task_id, task_assignment_id, billable, billable_rate)
TaskChoice = tuple[int, int, bool, float | None]


@dataclass
class _Option:
    """One project a person can book time on, with its assigned tasks."""

    project_id: int
    ua_id: int
    client_id: int
    budgeted: bool
    tasks: list[TaskChoice]


@dataclass
class _Worker:
    user_id: int
    cost_rate: float | None
    options: list[_Option]
    last_day: str  # archived people stop logging time on this day


def generate_time_entries(
    store: AccountStore, rng: random.Random, ids: IdSequence, tl: Timeline, entries_per_day: float
) -> None:
    """Fill the store with entries over the timeline's days (mostly weekdays)."""
    workers = _workers(store, tl)
    if not workers or entries_per_day <= 0:
        return
    writer = _EntryWriter(store, rng, ids, tl)
    base_count = int(entries_per_day)
    fraction = entries_per_day - base_count
    day = tl.first_day
    while day <= tl.end_date:
        spent = day.isoformat()
        weekend = day.weekday() >= 5
        age_days = (tl.end_date - day).days
        for worker in workers:
            if spent > worker.last_day or (weekend and rng.random() >= 0.03):
                continue
            count = base_count + (rng.random() < fraction)
            if base_count:
                # Symmetric jitter keeps the mean at entries_per_day.
                jitter = rng.random()
                count += (jitter < 0.25) * -1 + (jitter > 0.75)
            for _ in range(count):
                writer.write(worker, day, spent, age_days)
        day += timedelta(days=1)
    _start_timers(writer, workers, rng, tl)


def _workers(store: AccountStore, tl: Timeline) -> list[_Worker]:
    tables = store.tables
    tasks_by_project: dict[int, list[Record]] = {}
    for ta in tables["task_assignments"].values():
        tasks_by_project.setdefault(ta["project_id"], []).append(ta)
    uas_by_user: dict[int, list[Record]] = {}
    for ua in tables["user_assignments"].values():
        uas_by_user.setdefault(ua["user_id"], []).append(ua)
    workers = []
    for user in tables["users"].values():
        options = []
        for ua in uas_by_user.get(user["id"], []):
            project = tables["projects"][ua["project_id"]]
            choices: list[TaskChoice] = []
            for ta in tasks_by_project.get(project["id"], []):
                billable = project["is_billable"] and ta["billable"]
                rate = billable_rate_for(store, project, ua, ta, user) if billable else None
                choices.append((ta["task_id"], ta["id"], billable, rate))
            if choices:
                options.append(
                    _Option(
                        project["id"], ua["id"], project["client_id"], project["budget_by"] != "none", choices
                    )
                )
        if not options:
            continue
        last_day = tl.end_date.isoformat()
        if not user["is_active"]:
            last_day = datetime.fromtimestamp(user["updated_at"], UTC).date().isoformat()
        workers.append(_Worker(user["id"], user["cost_rate"], options, last_day))
    return workers


class _EntryWriter:
    """Builds entries with shared sub-objects and inserts them in id order."""

    def __init__(self, store: AccountStore, rng: random.Random, ids: IdSequence, tl: Timeline):
        self.store = store
        self.table = store.tables["time_entries"]
        self.rng = rng
        self.ids = ids
        self.tl = tl
        self.rounded = {h: rounded(h, store.rounding_minutes) for h in names.HOURS}
        self.timestamps = bool(store.company["wants_timestamp_timers"])
        self.clock = _clock_strings(store.company["clock"]) if self.timestamps else []
        self.invoices: dict[tuple[int, str], Record] = {}
        self.next_invoice = 28_100_000
        self.references = _external_references(rng)

    def write(self, worker: _Worker, day: Any, spent: str, age_days: int) -> TimeEntry:
        rng = self.rng
        random_ = rng.random
        option = worker.options[int(random_() * len(worker.options))]
        task_id, ta_id, billable, rate = option.tasks[int(random_() * len(option.tasks))]
        hours = names.HOURS[int(random_() * len(names.HOURS))]
        entry = TimeEntry.__new__(TimeEntry)
        entry.id = self.ids.next("time_entries")
        entry.spent_date = spent
        entry.user_id = worker.user_id
        entry.project_id = option.project_id
        entry.task_id = task_id
        entry.ua_id = option.ua_id
        entry.ta_id = ta_id
        entry.hours = entry.hours_without_timer = hours
        entry.rounded_hours = self.rounded[hours]
        entry.notes = names.NOTES[int(random_() * len(names.NOTES))]
        roll = random_()
        if age_days > 14:
            status = "approved" if roll < 0.7 else "submitted" if roll < 0.85 else "unsubmitted"
        elif age_days > 5:
            status = "approved" if roll < 0.3 else "submitted" if roll < 0.6 else "unsubmitted"
        else:
            status = "unsubmitted"
        entry.approval_status = status
        billed = billable and age_days > 30 and random_() < 0.6
        entry.is_billed = billed
        entry.invoice = self._invoice(option.client_id, spent) if billed else None
        entry.is_locked = billed or status == "approved"
        entry.locked_reason = _lock_reason(billed, status == "approved")
        entry.external_reference = (
            self.references[int(random_() * len(self.references))] if random_() < 0.03 else None
        )
        entry.is_running = False
        entry.timer_started_at = None
        if self.timestamps:
            start = 480 + int(random_() * 540)
            entry.started_time = self.clock[start]
            entry.ended_time = self.clock[min(1439, start + int(hours * 60))]
        else:
            entry.started_time = entry.ended_time = None
        entry.billable = billable
        entry.budgeted = option.budgeted
        entry.billable_rate = rate
        entry.cost_rate = worker.cost_rate
        created = day_start(day) + 28800 + int(random_() * 36000)
        if random_() < 0.1:  # back-dated: typed in days later
            created += (1 + int(random_() * 10)) * 86400
        cutoff = self.tl.cutoff
        created = min(created, cutoff)
        entry.created_at = created
        entry.updated_at = min(cutoff, created + int(random_() * 432000)) if random_() < 0.2 else created
        self.table[entry.id] = entry
        return entry

    def _invoice(self, client_id: int, spent: str) -> Record:
        key = (client_id, spent[:7])
        invoice = self.invoices.get(key)
        if invoice is None:
            self.next_invoice += 1 + int(self.rng.random() * 3)
            invoice = {"id": self.next_invoice, "number": str(len(self.invoices) + 1)}
            self.invoices[key] = invoice
        return invoice


def _lock_reason(billed: bool, approved: bool) -> str | None:
    if billed and approved:
        return "Item Invoiced and Approved"
    if billed:
        return "Item Invoiced"
    if approved:
        return "Item Approved and Locked for this Time Period"
    return None


def _start_timers(writer: _EntryWriter, workers: list[_Worker], rng: random.Random, tl: Timeline) -> None:
    """A few people have a timer running on the end date (at most one each, as in Harvest)."""
    end = tl.end_date
    active = [w for w in workers if w.last_day >= end.isoformat()]
    count = min(len(active), max(1, len(active) // 40))
    for worker in rng.sample(active, count):
        entry = writer.write(worker, end, end.isoformat(), 0)
        started = max(day_start(end), tl.cutoff - int(rng.random() * 10800))
        before = rng.choice((0.0, 0.5, 1.25))
        entry.is_running = True
        entry.timer_started_at = started
        entry.hours_without_timer = before
        entry.hours = round(before + max(0, tl.cutoff - started) / 3600.0, 2)
        entry.rounded_hours = rounded(entry.hours, writer.store.rounding_minutes)
        entry.approval_status, entry.is_billed, entry.invoice = "unsubmitted", False, None
        entry.is_locked, entry.locked_reason = False, None
        entry.ended_time = None
        entry.created_at = entry.updated_at = started


def _clock_strings(clock: str) -> list[str]:
    """Wall-clock strings per minute of the day, in the account's 12h or 24h format."""
    out = []
    for minute in range(1440):
        hour, mins = divmod(minute, 60)
        if clock == "24h":
            out.append(f"{hour:02d}:{mins:02d}")
        else:
            out.append(f"{(hour % 12) or 12}:{mins:02d}{'am' if hour < 12 else 'pm'}")
    return out


def _external_references(rng: random.Random) -> list[Record]:
    """A pool of linked issues/cards; entries share these dicts."""
    refs = []
    for index in range(40):
        service, permalink, label = names.EXTERNAL_SERVICES[index % len(names.EXTERNAL_SERVICES)]
        number = rng.randint(100, 9999)
        refs.append(
            {
                "id": str(number),
                "group_id": str(rng.randint(1000, 99999)),
                "account_id": str(rng.randint(100000, 999999)),
                "permalink": permalink.format(n=number),
                "service": service,
                "service_icon_url": f"https://proxy.harvestfiles.net/icons/{label.lower()}.png",
            }
        )
    return refs
