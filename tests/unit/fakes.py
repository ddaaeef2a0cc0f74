"""In-memory stand-ins for the unit of work, its repositories and the Harvest client, so the
handlers' rules run in tests/unit through the real pipeline, with no database, broker or HTTP.

They hold what the real repositories hold, as plain dicts, and do what their docstrings say;
the integration tests show the real ones do the same against PostgreSQL and the simulator.
"""

from __future__ import annotations

import copy
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from domain.accounts import AccountRecord
from domain.actuals import Applied, AssignmentSpan, Key, PersonFacts, ProjectFacts, hold_stands
from domain.commands import Lock
from domain.spans import Span
from infra.db.checkpoints import Checkpoint
from infra.db.entry_rows import Write
from infra.db.sync_start import ActualsStart
from infra.db.time_entries import Stored
from infra.db.uow import LockLost
from infra.harvest.client import ListedPage

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def account(account_id: int = 1, **changes: Any) -> AccountRecord:
    base = AccountRecord(
        id=account_id,
        name=f"acct-{account_id}",
        harvest_account_id=9000 + account_id,
        token_sealed=b"sealed",
        import_clients_projects=True,
        import_people=True,
        import_actuals=True,
        autofill=True,
        timezone="UTC",
        status="active",
        status_reason=None,
    )
    return replace(base, **changes)


# -- Harvest ------------------------------------------------------------------------------


def harvest_entry(harvest_id: int, day: date, *, user: int = 1, project: int = 1, hours: str = "1.5") -> dict:
    """A time entry as Harvest lists it (only the fields actuals read)."""
    return {
        "id": harvest_id,
        "spent_date": day.isoformat(),
        "user": {"id": user},
        "project": {"id": project},
        "hours": float(hours),
        "billable": True,
        "is_running": False,
        "updated_at": "2026-11-30T10:00:00Z",
    }


@dataclass
class FakeHarvest:
    """Harvest's /time_entries from a list (newest spent date first, as Harvest sorts),
    paged by page number, with counts and its clock; every request written down."""

    entries: list[dict] = field(default_factory=list)
    per_page: int = 2000
    now: datetime = T0
    requests: list[tuple[str, dict]] = field(default_factory=list)

    def _matching(self, params: dict) -> list[dict]:
        found = [
            e
            for e in self.entries
            if params.get("from", "0000") <= e["spent_date"] <= params.get("to", "9999")
            and ("is_running" not in params or e["is_running"])
            and ("updated_since" not in params or e["updated_at"] > params["updated_since"])
        ]
        return sorted(found, key=lambda e: (e["spent_date"], e["id"]), reverse=True)

    def listing(
        self, path: str, collection: str, params: dict | None = None, *, decode: object = None
    ) -> Iterator[ListedPage]:
        # `decode` is the real client's; these records are JSON objects already.
        query = {"per_page": self.per_page, **(params or {})}
        per_page = int(query.pop("per_page"))
        page = 1
        while True:
            self.requests.append(("list", {**query, "page": page}))
            found = self._matching(query)
            records = found[(page - 1) * per_page : page * per_page]
            yield ListedPage(records, page, len(found), self.now)
            if page * per_page >= len(found):
                return
            page += 1

    def pages(self, path: str, collection: str, params: dict | None = None) -> Iterator[list[dict]]:
        for page in self.listing(path, collection, params):
            yield page.records

    def count(self, path: str, params: dict | None = None) -> int:
        self.requests.append(("count", dict(params or {})))
        return len(self._matching(dict(params or {})))

    def get(self, path: str, params: dict | None = None) -> dict:
        """A page of a listing by number (a backfill's plan asks for the last page)."""
        query = dict(params or {})
        per_page, number = int(query.pop("per_page", self.per_page)), int(query.pop("page", 1))
        self.requests.append(("get", dict(params or {})))
        found = self._matching(query)
        return {
            "time_entries": found[(number - 1) * per_page : number * per_page],
            "total_entries": len(found),
        }

    def report(self, kind: str, start: date, end: date) -> list[dict]:
        return []

    def close(self) -> None:
        pass


# -- repositories -------------------------------------------------------------------------


@dataclass
class FakeAccounts:
    records: dict[int, AccountRecord] = field(default_factory=dict)
    state: dict[tuple[int, str], dict] = field(default_factory=lambda: defaultdict(dict))

    def get(self, account_id: int) -> AccountRecord | None:
        return self.records.get(account_id)

    def sync_state(self, account_id: int) -> dict[str, dict]:
        return {kind: dict(s) for (acc, kind), s in self.state.items() if acc == account_id}

    def record_success(self, account_id: int, kind: str, at: datetime) -> None:
        self.state[(account_id, kind)].update(last_success_at=at, last_error=None)

    def record_error(self, account_id: int, kind: str, error: str, at: datetime) -> None:
        self.state[(account_id, kind)].update(last_error=error, last_error_at=at)

    def set_status(self, account_id: int, status: str, reason: str | None) -> None:
        self.records[account_id] = replace(self.records[account_id], status=status, status_reason=reason)

    def move_cursor(
        self,
        account_id: int,
        kind: str,
        cursor: datetime,
        *,
        succeeded_at: datetime,
        full_reconciled_at: datetime | None,
        hold_facts: str | None = None,
    ) -> None:
        self.record_success(account_id, kind, succeeded_at)
        self.state[(account_id, kind)].update(cursor=cursor, hold_facts=hold_facts)
        if full_reconciled_at is not None:
            self.state[(account_id, kind)]["last_full_reconcile_at"] = full_reconciled_at


@dataclass
class FakeRuns:
    rows: dict[str, dict] = field(default_factory=dict)

    def mark_running(
        self,
        *,
        account_id: int,
        kind: str,
        message_id: str,
        at: datetime,
        progress: dict | None = None,
        durable: bool = True,
    ) -> None:
        row = self.rows.setdefault(message_id, {"account_id": account_id, "kind": kind, "progress": {}})
        if row.get("status") != "succeeded":
            row.update(status="running", started_at=row.get("started_at") or at)
            if progress is not None:
                row["progress"] = progress

    def upsert(self, *, account_id: int, kind: str, message_id: str, **values: object) -> None:
        self.rows.setdefault(message_id, {"account_id": account_id, "kind": kind}).update(values)

    def fail(
        self, *, account_id: int, kind: str, message_id: str, status: str, error: str, at: datetime | None
    ) -> None:
        row = self.rows.setdefault(message_id, {"account_id": account_id, "kind": kind, "progress": {}})
        if row.get("status") != "succeeded":
            row.update(status=status, error=error, finished_at=at or row.get("finished_at"))

    def finish(
        self,
        account_id: int,
        message_id: str,
        *,
        kind: str,
        status: str,
        counts: dict,
        at: datetime,
        started_at: datetime | None = None,
    ) -> None:
        row = self.rows.setdefault(message_id, {"account_id": account_id, "kind": kind, "progress": {}})
        row.update(status=status, counts=counts, finished_at=at, error=None)
        row["started_at"] = row.get("started_at") or started_at


@dataclass
class FakeBackfills:
    plans: dict[str, dict] = field(default_factory=dict)
    part_rows: dict[tuple[str, int], dict] = field(default_factory=dict)

    def unfinished(self) -> dict | None:
        return next((dict(b) for b in self.plans.values() if b["finished_at"] is None), None)

    def register(self, backfill_id: str, started_at: datetime, ranges: list[tuple[date, date]]) -> None:
        self.plans.setdefault(
            backfill_id,
            {"backfill_id": backfill_id, "started_at": started_at, "parts": len(ranges), "parts_done": 0,
             "finished_at": None},
        )  # fmt: skip
        for i, (start, end) in enumerate(ranges):
            self.part_rows.setdefault(
                (backfill_id, i),
                {"part": i, "start_date": start, "end_date": end, "done_at": None, "counts": {}},
            )

    def parts(self, backfill_id: str, *, pending_only: bool = False) -> list[dict]:
        rows = [dict(p) for (b, _), p in sorted(self.part_rows.items()) if b == backfill_id]
        return [p for p in rows if p["done_at"] is None] if pending_only else rows

    def finish_part(
        self, backfill_id: str, part: int, *, worker: str, counts: dict, at: datetime
    ) -> dict | None:
        row = self.part_rows[(backfill_id, part)]
        if row["done_at"] is not None:
            return None
        row.update(done_at=at, counts=counts)
        plan = self.plans[backfill_id]
        plan["parts_done"] += 1
        if plan["parts_done"] < plan["parts"]:
            return None
        plan["finished_at"] = at
        return dict(plan)

    def total_counts(self, backfill_id: str) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for part in self.parts(backfill_id):
            for key, value in part["counts"].items():
                totals[key] += int(value)
        return dict(totals)


@dataclass
class FakeLookups:
    """Our people and projects by Harvest id, as resolving an entry sees them."""

    people_by_harvest_id: dict[int, PersonFacts] = field(default_factory=dict)
    projects_by_harvest_id: dict[int, ProjectFacts] = field(default_factory=dict)
    spans: dict[int, dict[int, list[AssignmentSpan]]] = field(default_factory=dict)

    def people(self, harvest_user_ids: Iterable[int]) -> dict[int, PersonFacts | None]:
        return {i: self.people_by_harvest_id.get(i) for i in harvest_user_ids}

    def projects(self, harvest_project_ids: Iterable[int]) -> dict[int, ProjectFacts | None]:
        return {i: self.projects_by_harvest_id.get(i) for i in harvest_project_ids}

    def assignments(self, person_ids: Iterable[int]) -> dict[int, dict[int, list[AssignmentSpan]]]:
        return {p: self.spans.get(p, {}) for p in person_ids}

    def hold_facts(self) -> str:
        facts = repr((sorted(self.people_by_harvest_id.items()), sorted(self.projects_by_harvest_id.items())))
        return hashlib.md5(facts.encode()).hexdigest()


@dataclass
class FakeEntries:
    """time_entries of one account: the version we hold, what counts of it, why it is held."""

    lookups: FakeLookups
    rows: dict[int, Stored] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)

    def current(self, harvest_ids: Iterable[int]) -> dict[int, Stored]:
        return {i: self.rows[i] for i in harvest_ids if i in self.rows}

    def insert_new(self, writes: Sequence[Write]) -> None:
        for w in writes:
            assert w.entry.harvest_id not in self.rows, "insert_new of an entry already held"
            self.rows[w.entry.harvest_id] = Stored(w.entry, w.applied, w.hold_reason)

    def write(self, writes: Sequence[Write], *, versions_changed: bool = True) -> None:
        for w in writes:
            held = self.rows.get(w.entry.harvest_id)
            if versions_changed and held is not None and held.entry.updated_at > w.entry.updated_at:
                continue
            self.rows[w.entry.harvest_id] = Stored(w.entry, w.applied, w.hold_reason)

    def release(self, harvest_ids: Iterable[int]) -> None:
        pass  # the ledger is the hold reasons themselves here

    def held_ids(self) -> list[int]:
        return [
            i
            for i, s in self.rows.items()
            if s.hold_reason
            and not hold_stands(
                s.hold_reason,
                self.lookups.people_by_harvest_id.get(s.entry.harvest_user_id),
                self.lookups.projects_by_harvest_id.get(s.entry.harvest_project_id),
            )
        ]

    def ids_of_people(self, person_ids: Iterable[int]) -> list[int]:
        wanted = set(person_ids)
        return [i for i, s in self.rows.items() if s.applied and s.applied.person_id in wanted]

    def dirty_people(self) -> list[int]:
        return sorted(self.dirty)

    def clear_dirty(self, person_ids: Iterable[int]) -> None:
        self.dirty -= set(person_ids)


@dataclass
class FakeDeletions:
    entries: FakeEntries
    seen: set[int] = field(default_factory=set)

    def counts_by_day(self, span: Span, *, unless_total: int) -> list[tuple[date, int]] | None:
        per_day: dict[date, int] = defaultdict(int)
        for s in self.entries.rows.values():
            if span.covers(s.entry.spent_date):
                per_day[s.entry.spent_date] += 1
        if sum(per_day.values()) == unless_total:
            return None
        return sorted(per_day.items())

    def begin_seen(self) -> None:
        self.seen = set()

    def add_seen(self, harvest_ids: Iterable[int]) -> None:
        self.seen.update(harvest_ids)

    def delete_missing(self, span: Span) -> tuple[int, list[Key]]:
        gone = [
            i for i, s in self.entries.rows.items() if span.covers(s.entry.spent_date) and i not in self.seen
        ]
        keys = [self.entries.rows[i].applied.key for i in gone if self.entries.rows[i].applied]
        for i in gone:
            del self.entries.rows[i]
        return len(gone), keys


@dataclass
class FakeEntryStore:
    entries: FakeEntries
    lookups: FakeLookups
    deletions: FakeDeletions
    actuals: dict[Key, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def empty(cls, lookups: FakeLookups) -> FakeEntryStore:
        entries = FakeEntries(lookups)
        return cls(entries, lookups, FakeDeletions(entries))

    def rebuild_actuals(self, keys: Iterable[Key], *, emptied: Iterable[Key] = ()) -> int:
        wanted = set(keys) | set(emptied)
        sums: dict[Key, list[int]] = {k: [0, 0] for k in wanted}
        for s in self.entries.rows.values():
            a: Applied | None = s.applied
            if a is not None and a.key in wanted:
                sums[a.key][0 if a.billable else 1] += a.minutes
        for key, (billable, other) in sums.items():
            if any(s.applied and s.applied.key == key for s in self.entries.rows.values()):
                self.actuals[key] = (billable, other)
            else:
                self.actuals.pop(key, None)
        return len(wanted)

    def add_to_actuals(self, minutes: dict[Key, tuple[int, int]]) -> None:
        for key, (billable, other) in minutes.items():
            had = self.actuals.get(key, (0, 0))
            self.actuals[key] = (had[0] + billable, had[1] + other)


# -- checkpoints ---------------------------------------------------------------------------


@dataclass
class FakeCheckpoints:
    saved: dict[str, tuple[str, dict]] = field(default_factory=dict)
    age_s: float = 0.0  # how old every saved checkpoint looks

    def find(self, scope: str) -> Checkpoint | None:
        if scope not in self.saved:
            return None
        run_id, state = self.saved[scope]
        return Checkpoint(run_id, copy.deepcopy(state), self.age_s)

    def save(self, scope: str, run_id: str, state: dict) -> None:
        self.saved[scope] = (run_id, copy.deepcopy(state))

    def clear(self, scope: str) -> None:
        self.saved.pop(scope, None)


# -- the unit of work ---------------------------------------------------------------------


@dataclass
class FakeDatabase:
    """What the unit of work commits to: one account's data, kept across units of work."""

    accounts: FakeAccounts = field(default_factory=FakeAccounts)
    runs: FakeRuns = field(default_factory=FakeRuns)
    backfills: FakeBackfills = field(default_factory=FakeBackfills)
    lookups: FakeLookups = field(default_factory=FakeLookups)
    store: FakeEntryStore | None = None
    inbox: set[tuple[str, str]] = field(default_factory=set)
    checkpoints: FakeCheckpoints = field(default_factory=FakeCheckpoints)
    # Locks another pod holds: (lock, key).
    held_elsewhere: set[tuple[Lock, int | str]] = field(default_factory=set)
    commits: int = 0

    def __post_init__(self) -> None:
        self.store = self.store or FakeEntryStore.empty(self.lookups)


class FakeUnitOfWork:
    """Changes are made in place; a unit of work that ends without commit() restores the
    entries, actuals and inbox (what a failing handler must not leave behind)."""

    def __init__(self, db: FakeDatabase, account_id: int | None = None) -> None:
        self.db = db
        self.account_id = account_id
        self.accounts = db.accounts
        self.runs = db.runs
        self.backfills = db.backfills
        self.committed = False

    def __enter__(self) -> FakeUnitOfWork:
        self._snapshot()
        return self

    def account(self, lock: Lock, key: int | str) -> tuple[AccountRecord | None, bool]:
        record = self.accounts.get(self.account_id)
        return record, record is not None and self.try_lock(lock, key)

    def _snapshot(self) -> None:
        self._inbox_before = set(self.db.inbox)
        self._rows_before = dict(self.db.store.entries.rows)
        self._actuals_before = dict(self.db.store.actuals)
        self._checkpoints_before = dict(self.db.checkpoints.saved)

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.db.inbox = self._inbox_before
            self.db.store.entries.rows = self._rows_before
            self.db.store.actuals = self._actuals_before
            self.db.checkpoints.saved = self._checkpoints_before

    def commit(self) -> None:
        self.committed = True
        self.db.commits += 1

    def commit_and_continue(self, lock: Lock, key: int | str) -> None:
        self.db.commits += 1
        self._snapshot()
        if not self.try_lock(lock, key):
            raise LockLost(f"{lock.name} {key}")

    @property
    def checkpoints(self) -> FakeCheckpoints:
        return self.db.checkpoints

    def processed(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.db.inbox

    @property
    def entries(self) -> FakeEntryStore:
        return self.db.store

    @property
    def deletions(self) -> FakeDeletions:
        return self.db.store.deletions

    def try_lock(self, lock: Lock, key: int | str) -> bool:
        return (lock, key) not in self.db.held_elsewhere

    def mark_processed(self, consumer: str, message_id: str) -> None:
        self.db.inbox.add((consumer, message_id))

    def actuals_start(self, scope: str, *, inbox: tuple[str, str] | None = None) -> ActualsStart:
        store = self.entries
        return ActualsStart(
            self.accounts.sync_state(self.account_id).get("actuals") or {},
            self.checkpoints.find(scope),
            store.lookups.hold_facts(),
            store.entries.dirty_people(),
            (self.backfills.unfinished() or {}).get("backfill_id"),
            inbox is not None and self.processed(*inbox),
        )
