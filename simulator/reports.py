"""Harvest's time reports (reference §11), computed from the account's own time entries, so a
client can check its totals against the same data it lists.

`GET /v2/reports/time/{projects,team,clients,tasks}?from=YYYYMMDD&to=YYYYMMDD`: `from` and
`to` are required, inclusive, on spent_date, at most 365 days apart. Rows sum the entries'
`hours` (not `rounded_hours`), shown to two decimals; the team report has one row per user
and currency. Page-numbered, in the list envelope with the collection named `results`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from simulator.entry_index import spent_range
from simulator.pagination import LinkBuilder, build_envelope, parse_page_request, select_window
from simulator.query import QueryResult
from simulator.schema import StoreError
from simulator.store import AccountStore
from simulator.time_entries import TimeEntry

MAX_DAYS = 365
REPORTS = ("projects", "team", "clients", "tasks")


def report_rows(store: AccountStore, kind: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rows of one report over the request's from/to."""
    start, end = _range(params)
    with store.lock:
        entries = spent_range(store.sorted_records("time_entries"), start, end)
        groups: dict[tuple, list[TimeEntry]] = defaultdict(list)
        key_of, row_of = _SHAPES[kind]
        for entry in entries:
            groups[key_of(store, entry)].append(entry)
        named = [row_of(store, key, members) for key, members in groups.items()]
    return [row for _name, row in sorted(named, key=lambda pair: pair[0])]


def report_page(store: AccountStore, kind: str, request: Any) -> dict[str, Any]:
    """One page of a report, in Harvest's envelope."""
    paging = parse_page_request(request.params, cursor_enabled=False)
    result = QueryResult(report_rows(store, kind, request.params))
    window = select_window(store, "time_entries", result, paging)
    rows = result.items[window.start : window.end]
    envelope = build_envelope("results", rows, result, window, paging, LinkBuilder(request), False)
    return envelope


def _range(params: Mapping[str, str]) -> tuple[str, str]:
    raw_from, raw_to = params.get("from"), params.get("to")
    if not raw_from or not raw_to:
        raise StoreError(422, "from and to are required")
    start, end = _compact(raw_from, "from"), _compact(raw_to, "to")
    if end < start:
        raise StoreError(422, "to must not be before from")
    if (end - start).days + 1 > MAX_DAYS:
        raise StoreError(422, "The timeframe supplied cannot exceed 1 year (365 days)")
    return start.isoformat(), end.isoformat()


def _compact(raw: str, name: str) -> date:
    text = raw.replace("-", "")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else _bad(name)
    except ValueError:
        return _bad(name)


def _bad(name: str) -> date:
    raise StoreError(422, f"{name} must be a date like 20260131")


def _hours(values: list[float]) -> float:
    return round(sum(values), 2)


def _totals(store: AccountStore, members: list[TimeEntry]) -> dict[str, Any]:
    billable = [e for e in members if e.billable]
    return {
        "total_hours": _hours([e.hours for e in members]),
        "billable_hours": _hours([e.hours for e in billable]),
        "billable_amount": round(sum(e.hours * (e.billable_rate or 0) for e in billable), 2),
    }


def _client_of(store: AccountStore, entry: TimeEntry) -> dict[str, Any] | None:
    project = store.tables["projects"].get(entry.project_id)
    return store.tables["clients"].get(project["client_id"]) if project else None


def _currency(store: AccountStore, entry: TimeEntry) -> str:
    client = _client_of(store, entry)
    return (client or {}).get("currency") or store.company.get("currency", "USD")


def _project_row(store: AccountStore, key: tuple, members: list[TimeEntry]) -> tuple[str, dict[str, Any]]:
    (project_id,) = key
    project = store.tables["projects"].get(project_id) or {}
    client = _client_of(store, members[0]) or {}
    return str(project.get("name") or ""), {
        "project_id": project_id,
        "project_name": project.get("name"),
        "client_id": client.get("id"),
        "client_name": client.get("name"),
        **_totals(store, members),
        "currency": _currency(store, members[0]),
    }


def _team_row(store: AccountStore, key: tuple, members: list[TimeEntry]) -> tuple[str, dict[str, Any]]:
    user_id, currency = key
    user = store.tables["users"].get(user_id) or {}
    name = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
    return name, {
        "user_id": user_id,
        "user_name": name,
        "is_contractor": bool(user.get("is_contractor")),
        **_totals(store, members),
        "currency": currency,
        "weekly_capacity": user.get("weekly_capacity"),
        "avatar_url": user.get("avatar_url"),
    }


def _client_row(store: AccountStore, key: tuple, members: list[TimeEntry]) -> tuple[str, dict[str, Any]]:
    client = _client_of(store, members[0]) or {}
    return str(client.get("name") or ""), {
        "client_id": client.get("id"),
        "client_name": client.get("name"),
        **_totals(store, members),
        "currency": _currency(store, members[0]),
    }


def _task_row(store: AccountStore, key: tuple, members: list[TimeEntry]) -> tuple[str, dict[str, Any]]:
    (task_id,) = key
    task = store.tables["tasks"].get(task_id) or {}
    return str(task.get("name") or ""), {
        "task_id": task_id,
        "task_name": task.get("name"),
        **_totals(store, members),
        "currency": _currency(store, members[0]),
    }


KeyOf = Callable[[AccountStore, TimeEntry], tuple]
RowOf = Callable[[AccountStore, tuple, list[TimeEntry]], tuple[str, dict[str, Any]]]
_SHAPES: dict[str, tuple[KeyOf, RowOf]] = {
    "projects": (lambda s, e: (e.project_id,), _project_row),
    "team": (lambda s, e: (e.user_id, _currency(s, e)), _team_row),
    "clients": (lambda s, e: ((_client_of(s, e) or {}).get("id"),), _client_row),
    "tasks": (lambda s, e: (e.task_id,), _task_row),
}
