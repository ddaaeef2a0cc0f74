"""In-memory data of one Harvest account: records, mutations, and derived indexes.

Every mutation bumps a per-collection version counter. Sorted lists, lookup indexes and the
query cache (simulator.query) are keyed by those versions, so reads never rescan data that
has not changed and a mutation invalidates exactly what depends on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from simulator.cascade import DELETE_RULES, no_rule
from simulator.defaults import claims_for, default_company, default_record
from simulator.entry_index import EntryIndexes
from simulator.render import render_records
from simulator.schema import (
    COLLECTIONS,
    ID_BASES,
    REFS,
    SCHEMAS,
    StoreError,
    check_known_keys,
    coerce_field,
    extract_ref,
)
from simulator.time_entries import TimeEntry, create_entry, update_entry
from simulator.timeutil import Clock, to_epoch

Record = dict[str, Any]

ENTRY_ORDER = attrgetter("spent_date", "id")  # descending: Harvest's order of time entries


def _order(collection: str) -> str:
    return f"order:{collection}"


def _created_order(rec: Record) -> tuple[int, int]:
    return rec["created_at"], rec["id"]


class AccountStore:
    """All records of one account, guarded by one re-entrant lock.

    Public methods (create/update/delete/list/get) speak rendered Harvest JSON objects;
    the ``tables`` dicts hold the raw records (dicts, or TimeEntry objects).
    """

    def __init__(self, account_id: int, clock: Clock | None = None) -> None:
        self.account_id = account_id
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.tables: dict[str, dict[int, Any]] = {name: {} for name in COLLECTIONS}
        self.versions: dict[str, int] = dict.fromkeys(COLLECTIONS, 0)
        # Bumped only when a collection's API order may have changed (see touch_fields).
        self.versions.update({_order(name): 0 for name in COLLECTIONS})
        # Sort keys of deleted records, so a cursor naming a deleted id still has a place.
        self.tombstones: dict[str, dict[int, tuple[int, int]]] = {n: {} for n in COLLECTIONS}
        self.company: Record = default_company(account_id)
        self.rounding_minutes = 0
        self.owner_user_id: int | None = None
        self.live_timers = False
        self.query_cache: dict[Any, Any] = {}
        self._last_ids = {name: base - 1 for name, base in ID_BASES.items()}
        self._derived: dict[str, tuple[tuple[int, ...], Any]] = {}
        self.entry_indexes = EntryIndexes()

    # ----- clock and small helpers -------------------------------------------------
    def now(self) -> int:
        """Simulated now in epoch seconds (shared clock, shiftable through /_sim/clock)."""
        return self.clock.now()

    def today(self) -> str:
        """Simulated today's date (UTC) as YYYY-MM-DD."""
        return datetime.fromtimestamp(self.now(), UTC).date().isoformat()

    def company_rounding_minutes(self) -> int:
        """Time-rounding step used for ``rounded_hours`` (0 = no rounding)."""
        return self.rounding_minutes

    def stamp(self, value: Any) -> int:
        """Parse a caller-supplied timestamp, answering 422 when it is not one."""
        try:
            return to_epoch(value)
        except ValueError as exc:
            raise StoreError(422, str(exc)) from exc

    def touch(self, *collections: str) -> None:
        """Record that collections changed: invalidates sorted lists, indexes and queries."""
        for name in collections:
            self.versions[name] += 1
            if name in COLLECTIONS:
                self.versions[_order(name)] += 1

    def touch_fields(self, collection: str) -> None:
        """Record that records changed in place without moving in API order: queries are
        recomputed, the sorted list is kept (resorting 750k entries per edit is not what
        Harvest's indexed storage costs, and it made every edit cost a benchmark 0.3 s)."""
        self.versions[collection] += 1

    def derived(self, name: str, deps: tuple[str, ...], build: Callable[[], Any]) -> Any:
        """Return a cached value of ``build()`` valid while ``deps`` are unchanged."""
        key = tuple(self.versions[dep] for dep in deps)
        hit = self._derived.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        with self.lock:
            value = build()
            self._derived[name] = (key, value)
            return value

    def sorted_records(self, collection: str) -> list[Any]:
        """Records in API order: time entries by spent_date then id, others newest first."""

        def build() -> list[Any]:
            key = ENTRY_ORDER if collection == "time_entries" else _created_order
            return sorted(self.tables[collection].values(), key=key, reverse=True)

        return self.derived(f"sorted:{collection}", (_order(collection),), build)  # type: ignore[no-any-return]

    def role_names_by_user(self) -> dict[int, list[str]]:
        """user id -> names of the roles listing that user, in role-id order."""

        def build() -> dict[int, list[str]]:
            names: dict[int, list[str]] = {}
            for role_id in sorted(self.tables["roles"]):
                role = self.tables["roles"][role_id]
                for user_id in role["user_ids"]:
                    names.setdefault(user_id, []).append(role["name"])
            return names

        return self.derived("role_names", ("roles",), build)  # type: ignore[no-any-return]

    def ua_index(self) -> dict[tuple[int, int], int]:
        """(project id, user id) -> user assignment id."""
        return self.derived(  # type: ignore[no-any-return]
            "ua_index",
            ("user_assignments",),
            lambda: {
                (ua["project_id"], ua["user_id"]): ua_id
                for ua_id, ua in self.tables["user_assignments"].items()
            },
        )

    def ta_index(self) -> dict[tuple[int, int], int]:
        """(project id, task id) -> task assignment id."""
        return self.derived(  # type: ignore[no-any-return]
            "ta_index",
            ("task_assignments",),
            lambda: {
                (ta["project_id"], ta["task_id"]): ta_id
                for ta_id, ta in self.tables["task_assignments"].items()
            },
        )

    def next_id(self, collection: str) -> int:
        """A fresh id above every id the collection has ever held."""
        return self._last_ids[collection] + 1

    def sync_last_ids(self) -> None:
        """Raise the id counters above every stored id (after bulk loads into ``tables``)."""
        for name, table in self.tables.items():
            if table:
                self._last_ids[name] = max(self._last_ids[name], max(table))

    def insert_raw(self, collection: str, record: Any) -> None:
        """Add a fully built record without validation (used by the generator)."""
        if collection == "time_entries":
            self.entry_indexes.invalidate()
        self._insert(collection, record)

    def _insert(self, collection: str, record: Any) -> None:
        record_id = record.id if collection == "time_entries" else record["id"]
        self.tables[collection][record_id] = record
        if record_id > self._last_ids[collection]:
            self._last_ids[collection] = record_id

    # ----- public read API ---------------------------------------------------------
    def render(self, collection: str, records: list[Any]) -> list[Record]:
        """Render raw records of a collection as Harvest JSON objects."""
        return render_records(self, collection, records, self.now(), self.live_timers)

    def list(self, collection: str) -> list[Record]:
        """Every record of a collection as Harvest would render it, in API order."""
        _check_collection(collection)
        with self.lock:
            return self.render(collection, self.sorted_records(collection))

    def iter_rendered(self, collection: str, batch: int = 2000) -> Iterator[Record]:
        """Like list() but rendered in batches, for streaming very large collections."""
        _check_collection(collection)
        with self.lock:
            records = self.sorted_records(collection)
        for start in range(0, len(records), batch):
            with self.lock:
                yield from self.render(collection, records[start : start + batch])

    def get(self, collection: str, record_id: int) -> Record | None:
        """One rendered record, or None."""
        _check_collection(collection)
        with self.lock:
            record = self.tables[collection].get(record_id)
            return None if record is None else self.render(collection, [record])[0]

    def counts(self) -> dict[str, int]:
        """Number of records per collection."""
        return {name: len(table) for name, table in self.tables.items()}

    # ----- public write API --------------------------------------------------------
    def create(self, collection: str, fields: Record) -> Record:
        """Create a record (id assigned when absent, created_at = updated_at = now)."""
        _check_collection(collection)
        check_known_keys(collection, fields)
        with self.lock:
            record_id = fields.get("id")
            if record_id is None:
                record_id = self.next_id(collection)
            elif isinstance(record_id, bool) or not isinstance(record_id, int) or record_id < 1:
                raise StoreError(422, "id must be a positive integer")
            if record_id in self.tables[collection]:
                raise StoreError(422, f"{collection} id {record_id} already exists")
            now = self.now()
            if collection == "time_entries":
                record: Any = create_entry(self, record_id, fields, now)
                self._insert(collection, record)
                self.entry_indexes.written(record)
                self.touch(collection)
            else:
                record = self._create_master(collection, record_id, fields, now)
            return self.render(collection, [record])[0]

    def update(self, collection: str, record_id: int, fields: Record) -> Record:
        """Partially update a record and bump its updated_at."""
        _check_collection(collection)
        check_known_keys(collection, fields)
        with self.lock:
            record = self.tables[collection].get(record_id)
            if record is None:
                raise StoreError(404, f"{collection} id {record_id} not found")
            if "id" in fields and fields["id"] != record_id:
                raise StoreError(422, "id cannot be changed")
            now = self.now()
            if collection == "time_entries":
                place = ENTRY_ORDER(record)
                update_entry(self, record, fields, now)
                self.entry_indexes.written(record)
                if ENTRY_ORDER(record) == place:
                    self.touch_fields(collection)
                else:
                    self.touch(collection)
            else:
                self._update_master(collection, record, fields, now)
            return self.render(collection, [record])[0]

    def delete(self, collection: str, record_id: int) -> None:
        """Delete a record with Harvest's rules: refusals answer 422, projects cascade."""
        _check_collection(collection)
        with self.lock:
            if record_id not in self.tables[collection]:
                raise StoreError(404, f"{collection} id {record_id} not found")
            DELETE_RULES.get(collection, no_rule)(self, record_id)
            self._remove(collection, record_id)

    def update_company(self, fields: Record) -> Record:
        """Patch fields of the company object (unknown keys are rejected)."""
        unknown = sorted(set(fields) - set(self.company))
        if unknown:
            raise StoreError(422, f"unknown company field(s): {', '.join(unknown)}")
        with self.lock:
            self.company.update(fields)
            return dict(self.company)

    # ----- internals ---------------------------------------------------------------
    def _remove(self, collection: str, record_id: int) -> None:
        record = self.tables[collection].pop(record_id)
        if collection == "time_entries":
            self.entry_indexes.removed(record_id)
        else:
            self.tombstones[collection][record_id] = _created_order(record)
        self.touch(collection)

    def remove_where(self, collection: str, predicate: Callable[[Any], bool]) -> int:
        """Delete every record of a collection matching ``predicate``; returns how many."""
        doomed = [rid for rid, rec in self.tables[collection].items() if predicate(rec)]
        for record_id in doomed:
            self._remove(collection, record_id)
        return len(doomed)

    def any_entry(self, predicate: Callable[[TimeEntry], bool]) -> bool:
        """Whether any time entry matches (an O(N) scan, used only by deletes)."""
        return any(predicate(entry) for entry in self.tables["time_entries"].values())

    def _create_master(self, collection: str, record_id: int, fields: Record, now: int) -> Record:
        record = default_record(collection, record_id, self.company.get("currency", "USD"))
        record["created_at"] = record["updated_at"] = now
        self._apply_fields(collection, record, fields, creating=True)
        if "created_at" in fields:
            record["created_at"] = self.stamp(fields["created_at"])
        record["updated_at"] = (
            self.stamp(fields["updated_at"]) if "updated_at" in fields else record["created_at"]
        )
        self.insert_raw(collection, record)
        self.touch(collection)
        self._apply_memberships(collection, record, fields, now)
        return record

    def _update_master(self, collection: str, record: Record, fields: Record, now: int) -> None:
        self._apply_fields(collection, record, fields, creating=False)
        for stamp_key in ("created_at",):
            if stamp_key in fields:
                record[stamp_key] = self.stamp(fields[stamp_key])
        record["updated_at"] = self.stamp(fields["updated_at"]) if "updated_at" in fields else now
        self.touch(collection)
        self._apply_memberships(collection, record, fields, now)

    def _apply_fields(self, collection: str, record: Record, fields: Record, creating: bool) -> None:
        schema = SCHEMAS[collection]
        values = {name: coerce_field(name, schema[name], fields[name]) for name in schema if name in fields}
        refs: dict[str, int | None] = {}
        for ref in REFS.get(collection, ()):
            present, ref_id = extract_ref(collection, ref, fields)
            if not present:
                if creating and ref.required:
                    raise StoreError(422, f"{ref.key} can't be blank")
                continue
            if not creating and collection != "projects":
                raise StoreError(422, f"{ref.key} cannot be changed on {collection}")
            if ref_id is None or ref_id not in self.tables[ref.collection]:
                raise StoreError(422, f"{ref.key} {ref_id} does not exist")
            refs[ref.key] = ref_id
        if creating and collection in ("user_assignments", "task_assignments"):
            other = "user_id" if collection == "user_assignments" else "task_id"
            index = self.ua_index() if collection == "user_assignments" else self.ta_index()
            if (refs["project_id"], refs[other]) in index:
                raise StoreError(422, f"that {other[:-3]} is already assigned to the project")
        record.update(values)
        record.update(refs)
        if collection == "users" and "access_roles" in values and "permissions_claims" not in values:
            record["permissions_claims"] = claims_for(record["access_roles"])
        inherits_rate = creating and collection == "user_assignments" and "hourly_rate" not in values
        if inherits_rate and record["use_default_rates"]:
            record["hourly_rate"] = self.tables["users"][record["user_id"]]["default_hourly_rate"]

    def _apply_memberships(self, collection: str, record: Record, fields: Record, now: int) -> None:
        """Keep role.user_ids and user.roles two views of the same membership."""
        if collection == "users" and "roles" in fields:
            names = fields["roles"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise StoreError(422, "roles must be a list of role names")
            self._set_user_roles(record["id"], names, now)
        elif collection == "roles" and "user_ids" in fields:
            user_ids = fields["user_ids"]
            if not isinstance(user_ids, list) or not all(
                isinstance(u, int) and not isinstance(u, bool) for u in user_ids
            ):
                raise StoreError(422, "user_ids must be a list of user ids")
            missing = [u for u in user_ids if u not in self.tables["users"]]
            if missing:
                raise StoreError(422, f"unknown user id(s): {missing}")
            record["user_ids"] = list(dict.fromkeys(user_ids))
            self.touch("roles")

    def _set_user_roles(self, user_id: int, names: list[str], now: int) -> None:
        wanted = list(dict.fromkeys(names))
        by_name = {role["name"]: role for role in self.tables["roles"].values()}
        for name in wanted:
            if name not in by_name:
                by_name[name] = self._create_master("roles", self.next_id("roles"), {"name": name}, now)
        for role in self.tables["roles"].values():
            has = user_id in role["user_ids"]
            if (role["name"] in wanted) != has:
                if has:
                    role["user_ids"] = [u for u in role["user_ids"] if u != user_id]
                else:
                    role["user_ids"] = [*role["user_ids"], user_id]
                role["updated_at"] = now
        self.touch("roles")


def _check_collection(collection: str) -> None:
    if collection not in COLLECTIONS:
        raise StoreError(404, f"unknown collection {collection!r}")
