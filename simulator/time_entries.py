"""Compact time-entry records and the rules Harvest applies when one is created or edited.

Accounts may hold ~750k entries, so entries are ``__slots__`` objects with reference ids
instead of dicts with nested objects; the nested objects are built per page when rendered.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from simulator.schema import REFS, SCHEMAS, StoreError, coerce_field, extract_ref

if TYPE_CHECKING:
    from simulator.store import AccountStore

Record = dict[str, Any]


class TimeEntry:
    """One time entry; ``is_closed`` and ``client`` are derived when rendering."""

    __slots__ = (
        "approval_status",
        "billable",
        "billable_rate",
        "budgeted",
        "cost_rate",
        "created_at",
        "ended_time",
        "external_reference",
        "hours",
        "hours_without_timer",
        "id",
        "invoice",
        "is_billed",
        "is_locked",
        "is_running",
        "locked_reason",
        "notes",
        "project_id",
        "rounded_hours",
        "spent_date",
        "started_time",
        "ta_id",
        "task_id",
        "timer_started_at",
        "ua_id",
        "updated_at",
        "user_id",
    )

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))


def rounded(hours: float, rounding_minutes: int) -> float:
    """Harvest's ``rounded_hours``: hours rounded up to the account's rounding step."""
    if rounding_minutes <= 0:
        return hours
    steps_per_hour = 60 / rounding_minutes
    return round(math.ceil(round(hours * steps_per_hour, 6)) / steps_per_hour, 2)


def billable_rate_for(
    store: AccountStore, project: Record, ua: Record | None, ta: Record | None, user: Record
) -> float | None:
    """The rate Harvest picks from ``bill_by`` (Project / Tasks / People / none)."""
    bill_by = project["bill_by"]
    if bill_by == "Project":
        return project["hourly_rate"]
    if bill_by == "Tasks":
        return ta["hourly_rate"] if ta else None
    if bill_by == "People":
        if ua is not None and not ua["use_default_rates"]:
            return ua["hourly_rate"]
        return user["default_hourly_rate"]
    return None


def create_entry(store: AccountStore, entry_id: int, fields: Record, now: int) -> TimeEntry:
    """Build a new entry from control-API fields, filling what Harvest would derive."""
    entry = TimeEntry(id=entry_id, created_at=now, updated_at=now)
    refs = _read_refs(store, fields, None)
    if refs["user_id"] is None or refs["project_id"] is None:
        raise StoreError(422, "User can't be blank, Project can't be blank")
    entry.user_id, entry.project_id = refs["user_id"], refs["project_id"]
    entry.task_id = refs["task_id"] if refs["task_id"] is not None else _default_task(store, entry)
    _link_assignments(store, entry)
    values = _coerce(fields)
    project = store.tables["projects"][entry.project_id]
    user = store.tables["users"][entry.user_id]
    ua = store.tables["user_assignments"].get(entry.ua_id) if entry.ua_id else None
    ta = store.tables["task_assignments"].get(entry.ta_id) if entry.ta_id else None
    default_billable = project["is_billable"] and (ta["billable"] if ta else True)
    entry.spent_date = values.get("spent_date") or store.today()
    entry.hours = values.get("hours", 0.0)
    entry.hours_without_timer = values.get("hours_without_timer", entry.hours)
    entry.rounded_hours = values.get("rounded_hours", rounded(entry.hours, store.company_rounding_minutes()))
    entry.notes = values.get("notes")
    entry.is_locked = values.get("is_locked", False)
    entry.locked_reason = values.get("locked_reason")
    entry.approval_status = values.get("approval_status", "unsubmitted")
    entry.is_billed = values.get("is_billed", False)
    entry.invoice = values.get("invoice")
    entry.external_reference = values.get("external_reference")
    entry.is_running = values.get("is_running", False)
    entry.timer_started_at = values.get("timer_started_at", now if entry.is_running else None)
    entry.started_time = values.get("started_time")
    entry.ended_time = values.get("ended_time")
    entry.billable = values.get("billable", default_billable)
    entry.budgeted = values.get("budgeted", project["budget_by"] != "none")
    default_rate = billable_rate_for(store, project, ua, ta, user) if entry.billable else None
    entry.billable_rate = values.get("billable_rate", default_rate)
    entry.cost_rate = values.get("cost_rate", user["cost_rate"])
    if "is_closed" in values and "approval_status" not in values:
        entry.approval_status = "approved" if values["is_closed"] else "unsubmitted"
    if "created_at" in fields:
        entry.created_at = store.stamp(fields["created_at"])
    entry.updated_at = store.stamp(fields["updated_at"]) if "updated_at" in fields else (entry.created_at)
    return entry


def update_entry(store: AccountStore, entry: TimeEntry, fields: Record, now: int) -> None:
    """Apply a partial update in place; references and timers follow Harvest's rules."""
    refs = _read_refs(store, fields, entry)
    values = _coerce(fields)
    moved = {key for key, ref_id in refs.items() if ref_id is not None and ref_id != getattr(entry, key)}
    if moved:
        for key in moved:
            setattr(entry, key, refs[key])
        _link_assignments(store, entry)
    was_running = entry.is_running
    for name, value in values.items():
        if name == "is_closed":
            continue
        setattr(entry, name, value)
    if "is_closed" in values and "approval_status" not in values:
        entry.approval_status = "approved" if values["is_closed"] else "unsubmitted"
    if "hours" in values:
        if "hours_without_timer" not in values:
            entry.hours_without_timer = entry.hours
        if "rounded_hours" not in values:
            entry.rounded_hours = rounded(entry.hours, store.company_rounding_minutes())
    _apply_timer_transition(entry, was_running, values, now)
    _rederive_rates(store, entry, values, moved)
    entry.updated_at = store.stamp(fields["updated_at"]) if "updated_at" in fields else now


def _rederive_rates(store: AccountStore, entry: TimeEntry, values: Record, moved: set[str]) -> None:
    """Moving an entry or flipping ``billable`` recomputes what Harvest derives, unless the
    caller set it explicitly."""
    tables = store.tables
    project = tables["projects"][entry.project_id]
    user = tables["users"][entry.user_id]
    ta = tables["task_assignments"].get(entry.ta_id) if entry.ta_id else None
    if moved & {"project_id", "task_id"} and "billable" not in values:
        entry.billable = project["is_billable"] and (ta["billable"] if ta else True)
    if moved & {"project_id"} and "budgeted" not in values:
        entry.budgeted = project["budget_by"] != "none"
    if "user_id" in moved and "cost_rate" not in values:
        entry.cost_rate = user["cost_rate"]
    if (moved or "billable" in values) and "billable_rate" not in values:
        ua = tables["user_assignments"].get(entry.ua_id) if entry.ua_id else None
        entry.billable_rate = billable_rate_for(store, project, ua, ta, user) if entry.billable else None


def _apply_timer_transition(entry: TimeEntry, was_running: bool, values: Record, now: int) -> None:
    """Starting a timer stamps timer_started_at; stopping it folds elapsed time into hours."""
    if entry.is_running and not was_running and "timer_started_at" not in values:
        entry.timer_started_at = now
        entry.hours_without_timer = entry.hours
    elif was_running and not entry.is_running:
        if "hours" not in values and entry.timer_started_at is not None:
            elapsed = max(0, now - entry.timer_started_at) / 3600.0
            entry.hours = round(entry.hours_without_timer + elapsed, 2)
            entry.hours_without_timer = entry.hours
        if "timer_started_at" not in values:
            entry.timer_started_at = None


def _coerce(fields: Record) -> Record:
    schema = SCHEMAS["time_entries"]
    return {name: coerce_field(name, schema[name], fields[name]) for name in schema if name in fields}


def _read_refs(store: AccountStore, fields: Record, entry: TimeEntry | None) -> dict[str, int | None]:
    refs: dict[str, int | None] = {}
    for ref in REFS["time_entries"]:
        present, ref_id = extract_ref("time_entries", ref, fields)
        if present and ref_id is None:
            raise StoreError(422, f"{ref.key} can't be blank")
        if ref_id is not None and ref_id not in store.tables[ref.collection]:
            raise StoreError(422, f"{ref.key} {ref_id} does not exist")
        refs[ref.key] = ref_id
    return refs


def _default_task(store: AccountStore, entry: TimeEntry) -> int:
    """Harvest requires a task; the simulator picks the project's first assigned task."""
    for ta in store.tables["task_assignments"].values():
        if ta["project_id"] == entry.project_id:
            return int(ta["task_id"])
    raise StoreError(422, "Task can't be blank")


def _link_assignments(store: AccountStore, entry: TimeEntry) -> None:
    entry.ua_id = store.ua_index().get((entry.project_id, entry.user_id))
    entry.ta_id = store.ta_index().get((entry.project_id, entry.task_id))
