"""List filters per route, evaluated once per (filters, data version) and cached.

A benchmark pages through ~750k time entries 2000 at a time. Filtering and sorting per
page would make every page O(N) (a pitfall measured against other mocks); here the
filtered, sorted list is computed on the first page and every later page is a slice.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.entry_index import spent_range
from simulator.schema import APPROVAL_STATUSES, StoreError
from simulator.store import ENTRY_ORDER, AccountStore
from simulator.timeutil import parse_date, parse_instant

# Filters Harvest documents per list endpoint; anything else in the query is ignored.
_MASTER = {"is_active": "bool", "updated_since": "since"}
FILTER_SPECS: dict[str, dict[str, str]] = {
    "clients": _MASTER,
    "tasks": _MASTER,
    "projects": {**_MASTER, "client_id": "int"},
    "users": _MASTER,
    "roles": {},
    "user_assignments": {**_MASTER, "user_id": "int"},
    "task_assignments": _MASTER,
    "time_entries": {
        "user_id": "int",
        "client_id": "int",
        "project_id": "int",
        "task_id": "int",
        "is_billed": "bool",
        "is_running": "bool",
        "approval_status": "status",
        "external_reference_id": "str",
        "updated_since": "since",
        "from": "date",
        "to": "date",
    },
}

_TRUE = {"true", "t", "1", "yes"}
_FALSE = {"false", "f", "0", "no"}
_CACHE_LIMIT = 64


def parse_filters(collection: str, params: Mapping[str, str]) -> tuple[tuple[str, Any], ...]:
    """Validate the documented filters of a route; a malformed value answers 422."""
    parsed: list[tuple[str, Any]] = []
    for name, kind in FILTER_SPECS[collection].items():
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        try:
            parsed.append((name, _parse_value(kind, raw)))
        except ValueError as exc:
            raise StoreError(422, f"{name} is invalid: {exc}") from exc
    return tuple(parsed)


def _parse_value(kind: str, raw: str) -> Any:
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected true or false")
    if kind == "int":
        return int(raw)
    if kind == "since":
        return parse_instant(raw)
    if kind == "date":
        return parse_date(raw)
    if kind == "status":
        if raw not in APPROVAL_STATUSES:
            raise ValueError(f"expected one of {', '.join(APPROVAL_STATUSES)}")
        return raw
    return raw


@dataclass
class QueryResult:
    """A filtered list in API order, plus lazily built sort keys for cursor lookups."""

    items: list[Any]
    _negated_keys: list[tuple[int, int]] | None = field(default=None, repr=False)

    def negated_keys(self) -> list[tuple[int, int]]:
        """(-created_at, -id) per item: ascending, so bisect works on a newest-first list."""
        if self._negated_keys is None:
            self._negated_keys = [(-rec["created_at"], -rec["id"]) for rec in self.items]
        return self._negated_keys

    def index_after(self, sort_key: tuple[int, int]) -> int:
        """Index of the first item strictly after ``sort_key`` in API order."""
        return bisect_right(self.negated_keys(), (-sort_key[0], -sort_key[1]))

    def index_of(self, sort_key: tuple[int, int]) -> int:
        """Index where an item with ``sort_key`` is (or would be)."""
        return bisect_left(self.negated_keys(), (-sort_key[0], -sort_key[1]))


def run_query(
    store: AccountStore,
    collection: str,
    filters: tuple[tuple[str, Any], ...],
    inclusive_since: bool,
    scope_project_id: int | None = None,
) -> QueryResult:
    """Filtered records of ``collection`` in API order, cached until the data changes."""
    deps: tuple[str, ...] = (collection,)
    if collection == "time_entries" and any(name == "client_id" for name, _ in filters):
        deps = (collection, "projects")
    versions = tuple(store.versions[dep] for dep in deps)
    key = (collection, filters, inclusive_since, scope_project_id)
    hit = store.query_cache.get(key)
    if hit is not None and hit[0] == versions:
        return hit[1]  # type: ignore[no-any-return]
    with store.lock:
        if collection == "time_entries" and scope_project_id is None:
            items, filters = _entry_candidates(store, filters, inclusive_since)
        else:
            items = store.sorted_records(collection)
        if scope_project_id is not None:
            items = [rec for rec in items if rec["project_id"] == scope_project_id]
        for name, value in filters:
            items = _apply(store, collection, items, name, value, inclusive_since)
        result = QueryResult(items)
        if len(store.query_cache) >= _CACHE_LIMIT:
            store.query_cache.pop(next(iter(store.query_cache)))
        store.query_cache[key] = (versions, result)
        return result


def _entry_candidates(
    store: AccountStore, filters: tuple[tuple[str, Any], ...], inclusive_since: bool
) -> tuple[list[Any], tuple[tuple[str, Any], ...]]:
    """Time entries that may match, in API order, from an index where one serves, and the
    filters still to apply to them."""
    table = store.tables["time_entries"]
    for name, value in filters:
        if name == "updated_since":
            found = store.entry_indexes.updated_since(table, value, inclusive_since)
        elif name == "is_running" and value is True:
            found = store.entry_indexes.running(table)
        else:
            continue
        if len(found) <= len(table) // 4:  # else sorting them costs more than a scan
            found.sort(key=ENTRY_ORDER, reverse=True)
            return found, tuple(f for f in filters if f[0] != name)
    items = store.sorted_records("time_entries")
    wanted = dict(filters)
    if "from" in wanted or "to" in wanted:
        items = spent_range(items, wanted.get("from"), wanted.get("to"))
        return items, tuple(f for f in filters if f[0] not in ("from", "to"))
    return items, filters


def _apply(
    store: AccountStore, collection: str, items: list[Any], name: str, value: Any, inclusive: bool
) -> list[Any]:
    if collection == "time_entries":
        predicate = _entry_predicate(store, name, value, inclusive)
        return [entry for entry in items if predicate(entry)]
    if name == "updated_since":
        if inclusive:
            return [rec for rec in items if rec["updated_at"] >= value]
        return [rec for rec in items if rec["updated_at"] > value]
    return [rec for rec in items if rec[name] == value]


def _entry_predicate(store: AccountStore, name: str, value: Any, inclusive: bool) -> Callable[[Any], bool]:
    if name == "updated_since":
        if inclusive:
            return lambda e: e.updated_at >= value
        return lambda e: e.updated_at > value
    if name == "from":
        return lambda e: e.spent_date >= value
    if name == "to":
        return lambda e: e.spent_date <= value
    if name == "client_id":
        projects = {pid for pid, p in store.tables["projects"].items() if p["client_id"] == value}
        return lambda e: e.project_id in projects
    if name == "external_reference_id":
        return lambda e: e.external_reference is not None and str(e.external_reference.get("id")) == value
    return lambda e: getattr(e, name) == value
