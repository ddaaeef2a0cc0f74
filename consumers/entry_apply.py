"""Applying Harvest time entries: store the versions that supersede what we hold, resolve each
to what it counts as, and rebuild exactly the actuals those changes touch. Shared by the daily
sync and the backfill parts."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import NamedTuple

import sqlalchemy as sa
import structlog

from domain.actuals import HarvestEntry, HoldReason, entry_from_harvest, keeps_previous, resolve, supersedes
from infra.db.actuals import rebuild_actuals
from infra.db.entry_rows import Write
from infra.db.lookups import ResolutionLookups
from infra.db.time_entries import Key, Stored, TimeEntryRepository

log = structlog.get_logger(__name__)


@dataclass
class EntryStore:
    """The repositories one account's sync writes through, in one transaction."""

    entries: TimeEntryRepository
    lookups: ResolutionLookups

    @classmethod
    def open(cls, conn, account_id: int) -> EntryStore:  # type: ignore[no-untyped-def]
        # What a foreign key would hold per row, once per transaction: the account row cannot
        # be deleted while we write its entries and actuals (time_entries and actuals have no
        # key to accounts; a trigger deletes their rows with the account, migration 0006).
        conn.execute(
            sa.text("SELECT 1 FROM accounts WHERE id = :account_id FOR KEY SHARE"), {"account_id": account_id}
        )
        lookups = ResolutionLookups(conn, account_id)
        return cls(TimeEntryRepository(conn, account_id, hold_stands=partial(holds_stand, lookups)), lookups)


def holds_stand(lookups: ResolutionLookups, groups: list[tuple[int, int, str]]) -> list[bool]:
    """For each (Harvest user, Harvest project, hold reason) of held entries: whether resolving
    them now would hold them for that same reason, i.e. re-resolving them changes nothing.

    Exact because resolve() decides every hold from the person and the project alone, before
    it looks at the entry; the probe entry's other fields only matter when nothing holds it,
    and then the group is re-resolved entry by entry anyway.
    """
    people = lookups.people({u for u, _, _ in groups})
    projects = lookups.projects({p for _, p, _ in groups})
    out = []
    for user, project, reason in groups:
        outcome = resolve(_probe(user, project), people.get(user), projects.get(project), [])
        out.append(isinstance(outcome, HoldReason) and outcome.value == reason)
    return out


def _probe(harvest_user_id: int, harvest_project_id: int) -> HarvestEntry:
    return HarvestEntry(
        harvest_id=0,
        harvest_user_id=harvest_user_id,
        harvest_project_id=harvest_project_id,
        spent_date=date.min,
        hours=Decimal(0),
        billable=False,
        is_running=False,
        updated_at=datetime.min.replace(tzinfo=UTC),
    )


class ParsedPage(NamedTuple):
    """A page of Harvest entries read into the model: the newest version of each, what could
    not be read (id, why), and every id the page listed."""

    newest: dict[int, HarvestEntry]
    malformed: list[tuple[object, str]]
    ids: list[int]


def parse_page(page: list[dict]) -> ParsedPage:
    """Pure work, no database: the sync runs it in the thread that reads ahead, while this
    thread waits on PostgreSQL for the page before."""
    newest: dict[int, HarvestEntry] = {}
    malformed: list[tuple[object, str]] = []
    for obj in page:
        try:
            entry = entry_from_harvest(obj)
        except (KeyError, TypeError, ValueError) as exc:
            malformed.append((obj.get("id"), str(exc)))
            continue
        seen = newest.get(entry.harvest_id)
        # Offset paging can repeat an entry across (or within) pages while data changes.
        if seen is None or supersedes(entry, seen):
            newest[entry.harvest_id] = entry
    # Listed ids include unreadable entries: a deletion check must not take them for deleted.
    ids = [*newest, *(i for i, _ in malformed if isinstance(i, int))]
    return ParsedPage(newest, malformed, ids)


def apply_page(store: EntryStore, page: list[dict] | ParsedPage, stats: Counter) -> None:
    """Store a page of Harvest entries and bring the actuals they touch up to date."""
    parsed = page if isinstance(page, ParsedPage) else parse_page(page)
    with _collector_paused():
        _apply_page(store, parsed, stats)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a page is applied. A page allocates tens of
    thousands of container objects, none of them in a cycle; each allocation burst made the
    collector traverse them again and again (about a fifth of the worker's CPU in a first
    sync). Reference counting still frees everything at once; cycles made elsewhere in the
    meantime are collected after the page."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _apply_page(store: EntryStore, page: ParsedPage, stats: Counter) -> None:
    for harvest_id, error in page.malformed:
        stats["entries.malformed"] += 1
        log.warning("time_entry_malformed", harvest_id=harvest_id, error=error)
    newest = page.newest
    stats["entries.received"] += len(newest)
    current = store.entries.current(newest)
    changed = [(e, current.get(i)) for i, e in newest.items() if supersedes(e, _entry(current.get(i)))]
    stats["entries.changed"] += len(changed)
    _resolve_and_store(store, changed, stats, versions_changed=True)


def reapply(store: EntryStore, harvest_ids: Iterable[int], stats: Counter) -> None:
    """Resolve stored entries again (a cause of a hold fixed, a role or assignment changed)."""
    with _collector_paused():
        current = store.entries.current(harvest_ids)
        _resolve_and_store(store, [(s.entry, s) for s in current.values()], stats, versions_changed=False)


def _entry(stored: Stored | None) -> HarvestEntry | None:
    return stored.entry if stored else None


def _resolve_and_store(
    store: EntryStore,
    items: list[tuple[HarvestEntry, Stored | None]],
    stats: Counter,
    *,
    versions_changed: bool,
) -> None:
    if not items:
        return
    people = store.lookups.people({e.harvest_user_id for e, _ in items})
    projects = store.lookups.projects({e.harvest_project_id for e, _ in items})
    spans = store.lookups.assignments(p.person_id for p in people.values() if p)
    no_plan: list = []
    # New entries (all of a first sync) go in by COPY; stored ones through the guarded upsert.
    inserts: list[Write] = []
    updates: list[Write] = []
    released: list[int] = []
    keys: set[Key] = set()
    emptied: set[Key] = set()
    held: Counter = Counter()
    for entry, stored in items:
        person, project = people.get(entry.harvest_user_id), projects.get(entry.harvest_project_id)
        plan = (
            spans.get(person.person_id, {}).get(project.project_id, no_plan)
            if person and project
            else no_plan
        )
        outcome = resolve(entry, person, project, plan)
        if stored is None:
            if isinstance(outcome, HoldReason):
                held[outcome] += 1
                inserts.append(Write(entry, None, outcome.value))
            else:
                inserts.append(Write(entry, outcome, None))
                keys.add(outcome.key)
            continue
        old = stored.applied
        if isinstance(outcome, HoldReason):
            held[outcome] += 1
            applied, reason = (old if keeps_previous(outcome) else None), outcome.value
        else:
            applied, reason = outcome, None
            if stored.hold_reason:
                released.append(entry.harvest_id)
        if not versions_changed and (applied, reason) == (old, stored.hold_reason):
            continue
        updates.append(Write(entry, applied, reason))
        if applied is not None:
            keys.add(applied.key)
        if old is not None and (applied is None or old.key != applied.key):
            emptied.add(old.key)
    for reason, count in held.items():
        stats[f"held.{reason.value}"] += count
    store.entries.insert_new(inserts)
    store.entries.write(updates, versions_changed=versions_changed)
    store.entries.release(released)
    stats["actuals.rebuilt"] += rebuild_actuals(
        store.entries.conn, store.entries.account_id, keys, emptied=emptied
    )
