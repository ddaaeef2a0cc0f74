"""Applying Harvest time entries: store the versions that supersede what we hold, resolve each
to what it counts as, and rebuild exactly the actuals those changes touch. Shared by the daily
sync and the backfill parts."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import structlog

from domain.actuals import (
    HarvestEntry,
    HoldReason,
    Key,
    entry_from_harvest,
    keeps_previous,
    resolve,
    supersedes,
)
from infra.db.entry_rows import Write
from infra.db.entry_store import EntryStore
from infra.db.time_entries import Stored

log = structlog.get_logger(__name__)


class ParsedPage(NamedTuple):
    """A page of Harvest entries read into the model: the newest version of each, what could
    not be read (id, why), and every id the page listed."""

    newest: dict[int, HarvestEntry]
    malformed: list[tuple[object, str]]
    ids: list[int]


def parse_page(page: list[dict] | list[HarvestEntry]) -> ParsedPage:
    """Pure work, no database: the sync runs it in the thread that reads ahead, while this
    thread waits on PostgreSQL for the page before. Records are Harvest's JSON objects, or
    entries already decoded into the model (infra.harvest.entries)."""
    newest: dict[int, HarvestEntry] = {}
    malformed: list[tuple[object, str]] = []
    for obj in page:
        if isinstance(obj, HarvestEntry):
            entry = obj
        else:
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
    # Minutes (billable, non-billable) the new entries add to each key they count under.
    added: dict[Key, list[int]] = {}
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
                sums = added.setdefault(outcome.key, [0, 0])
                sums[0 if outcome.billable else 1] += outcome.minutes
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
    # A key only new entries touch gains their minutes; one an update touches too is rebuilt
    # from all its entries (the new ones are in the table by now).
    new_only = {k: (b, n) for k, (b, n) in added.items() if k not in keys and k not in emptied}
    store.add_to_actuals(new_only)
    stats["actuals.rebuilt"] += store.rebuild_actuals(keys, emptied=emptied) + len(new_only)
