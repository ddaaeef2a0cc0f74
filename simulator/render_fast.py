"""Fast JSON for pages of time entries, byte-compatible with json.dumps of render.py's dicts.

Building a dict per entry and running json.dumps costs ~65 µs per entry on a small CI
machine, which caps a single client far below the 25k entries/s the benchmark needs.
Here each entry is one f-string, and the nested objects (user, project, client, task and
both assignments) are serialised once per data version and reused across pages.
tests/simulator/test_render_fast.py checks the output equals the dict path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from simulator.render import nested_client, nested_project, nested_task, ta_core, ua_core, user_name
from simulator.timeutil import format_ts

if TYPE_CHECKING:
    from simulator.store import AccountStore
    from simulator.time_entries import TimeEntry

_NESTED_DEPS = ("users", "projects", "clients", "tasks", "user_assignments", "task_assignments")
_BOOL = {True: "true", False: "false"}
_CACHE_LIMIT = 50_000


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Memo(dict):  # type: ignore[type-arg]
    """value -> encoded JSON, filled on first use. Subscripting a dict subclass that only
    adds ``__missing__`` stays a C-level lookup, which matters 2000 times per page."""

    def __init__(self, encode: Any, seed: dict[Any, str]) -> None:
        super().__init__(seed)
        self._encode = encode
        self._seed = seed

    def __missing__(self, key: Any) -> str:
        if len(self) >= _CACHE_LIMIT:  # free text from the control API must not grow it forever
            self.clear()
            self.update(self._seed)
        encoded = self[key] = self._encode(key)
        return encoded


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


# Strings (notes, statuses, clock times), numbers (rates) and day prefixes repeat a lot.
_TEXT = _Memo(_dumps, {None: "null"})  # type: ignore[dict-item]
_NUM = _Memo(repr, {None: "null"})  # type: ignore[dict-item]
_DAY = _Memo(lambda day: format_ts(day * 86400)[:10], {})  # type: ignore[index]
_SECONDS = [_clock(second) for second in range(86400)]
# Shared invoice / external-reference dicts, keyed by identity (the object is kept alive
# in the value, so the id cannot be reused while cached).
_OBJECTS: dict[int, tuple[Any, str]] = {}


def _obj(value: dict[str, Any] | None) -> str:
    if value is None:
        return "null"
    hit = _OBJECTS.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    if len(_OBJECTS) >= _CACHE_LIMIT:
        _OBJECTS.clear()
    encoded = _dumps(value)
    _OBJECTS[id(value)] = (value, encoded)
    return encoded


def _ts(value: int | None) -> str:
    return "null" if value is None else f'"{format_ts(value)}"'


class _Nested:
    """JSON fragments of nested objects, valid for one version of the master data."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store
        self.fragments: dict[tuple[str, int | None], str] = {}
        self.combined: dict[tuple[int, int, int, int | None, int | None], str] = {}

    def refs(self, entry: TimeEntry) -> str:
        """``"user":...,"client":...,"project":...,"task":...,"user_assignment":...,
        "task_assignment":...`` for an entry, memoised per combination of references."""
        key = (entry.user_id, entry.project_id, entry.task_id, entry.ua_id, entry.ta_id)
        fragment = self.combined.get(key)
        if fragment is None:
            get = self.get
            fragment = self.combined[key] = (
                f'"user":{get("user", entry.user_id)},"client":{get("client", entry.project_id)},'
                f'"project":{get("project", entry.project_id)},"task":{get("task", entry.task_id)},'
                f'"user_assignment":{get("ua", entry.ua_id)},'
                f'"task_assignment":{get("ta", entry.ta_id)}'
            )
        return fragment

    def get(self, kind: str, key: int | None) -> str:
        fragment = self.fragments.get((kind, key))
        if fragment is None:
            fragment = self.fragments[(kind, key)] = _dumps(self._build(kind, key))
        return fragment

    def _build(self, kind: str, key: int | None) -> Any:
        tables = self.store.tables
        if kind == "user":
            return {"id": key, "name": user_name(tables["users"].get(key))}  # type: ignore[arg-type]
        if kind == "project":
            return nested_project(self.store, key)  # type: ignore[arg-type]
        if kind == "client":  # keyed by project id: the client follows the project
            project = tables["projects"].get(key)  # type: ignore[arg-type]
            return nested_client(self.store, project["client_id"] if project else None)
        if kind == "task":
            return nested_task(self.store, key)
        if kind == "ua":
            ua = tables["user_assignments"].get(key) if key else None  # type: ignore[arg-type]
            return ua_core(ua) if ua else None
        ta = tables["task_assignments"].get(key) if key else None  # type: ignore[arg-type]
        return ta_core(ta) if ta else None


def time_entries_json(store: AccountStore, entries: list[TimeEntry], now: int, live_timers: bool) -> str:
    """The JSON array of a page of entries, equal to json.dumps(render_time_entries(...))."""
    nested: _Nested = store.derived("te_nested_json", _NESTED_DEPS, lambda: _Nested(store))
    refs = nested.refs
    bool_, text, num, day, sec = _BOOL, _TEXT, _NUM, _DAY, _SECONDS
    parts = []
    append = parts.append
    for e in entries:
        hours = e.hours
        if live_timers and e.is_running and e.timer_started_at is not None:
            hours = round(e.hours_without_timer + max(0, now - e.timer_started_at) / 3600.0, 2)
        created, updated = e.created_at, e.updated_at
        # hours fields are never null, and repr() of an int or float is what json.dumps prints.
        append(
            f'{{"id":{e.id},"spent_date":"{e.spent_date}","hours":{hours!r},'
            f'"hours_without_timer":{e.hours_without_timer!r},'
            f'"rounded_hours":{e.rounded_hours!r},"notes":{text[e.notes]},'
            f'"is_locked":{bool_[e.is_locked]},"locked_reason":{text[e.locked_reason]},'
            f'"approval_status":{text[e.approval_status]},'
            f'"is_closed":{bool_[e.approval_status == "approved"]},"is_billed":{bool_[e.is_billed]},'
            f'"timer_started_at":{"null" if e.timer_started_at is None else _ts(e.timer_started_at)},'
            f'"started_time":{text[e.started_time]},"ended_time":{text[e.ended_time]},'
            f'"is_running":{bool_[e.is_running]},"billable":{bool_[e.billable]},'
            f'"budgeted":{bool_[e.budgeted]},"billable_rate":{num[e.billable_rate]},'
            f'"cost_rate":{num[e.cost_rate]},'
            f'"created_at":"{day[created // 86400]}T{sec[created % 86400]}Z",'
            f'"updated_at":"{day[updated // 86400]}T{sec[updated % 86400]}Z",{refs(e)},'
            f'"invoice":{"null" if e.invoice is None else _obj(e.invoice)},'
            f'"external_reference":{"null" if e.external_reference is None else _obj(e.external_reference)}}}'
        )
    return "[" + ",".join(parts) + "]"
