"""Applying Harvest time entries: store the versions that supersede what we hold, resolve each
to what it counts as, and rebuild exactly the actuals those changes touch. Shared by the daily
sync and the backfill parts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from domain.actuals import HarvestEntry, HoldReason, entry_from_harvest, keeps_previous, resolve, supersedes
from infra.db.actuals import rebuild_actuals
from infra.db.lookups import ResolutionLookups
from infra.db.time_entries import Stored, TimeEntryRepository, Write

log = structlog.get_logger(__name__)


@dataclass
class EntryStore:
    """The repositories one account's sync writes through, in one transaction."""

    entries: TimeEntryRepository
    lookups: ResolutionLookups

    @classmethod
    def open(cls, conn, account_id: int) -> EntryStore:  # type: ignore[no-untyped-def]
        return cls(TimeEntryRepository(conn, account_id), ResolutionLookups(conn, account_id))


def apply_page(store: EntryStore, page: list[dict], stats: Counter) -> None:
    """Store a page of Harvest entries and bring the actuals they touch up to date."""
    newest: dict[int, HarvestEntry] = {}
    for obj in page:
        try:
            entry = entry_from_harvest(obj)
        except (KeyError, TypeError, ValueError) as exc:
            stats["entries.malformed"] += 1
            log.warning("time_entry_malformed", harvest_id=obj.get("id"), error=str(exc))
            continue
        seen = newest.get(entry.harvest_id)
        # Offset paging can repeat an entry across (or within) pages while data changes.
        if seen is None or supersedes(entry, seen):
            newest[entry.harvest_id] = entry
    stats["entries.received"] += len(newest)
    current = store.entries.current(newest)
    changed = [(e, current.get(i)) for i, e in newest.items() if supersedes(e, _entry(current.get(i)))]
    stats["entries.changed"] += len(changed)
    _resolve_and_store(store, changed, stats, versions_changed=True)


def reapply(store: EntryStore, harvest_ids: Iterable[int], stats: Counter) -> None:
    """Resolve stored entries again (a cause of a hold fixed, a role or assignment changed)."""
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
    people = store.lookups.people(e.harvest_user_id for e, _ in items)
    projects = store.lookups.projects(e.harvest_project_id for e, _ in items)
    spans = store.lookups.assignments(p.person_id for p in people.values() if p)
    writes, released, keys, emptied = [], [], set(), set()
    for entry, stored in items:
        person, project = people.get(entry.harvest_user_id), projects.get(entry.harvest_project_id)
        plan = spans.get(person.person_id, {}).get(project.project_id, []) if person and project else []
        outcome = resolve(entry, person, project, plan)
        old = stored.applied if stored else None
        if isinstance(outcome, HoldReason):
            stats[f"held.{outcome.value}"] += 1
            applied, reason = (old if keeps_previous(outcome) else None), outcome.value
        else:
            applied, reason = outcome, None
            if stored and stored.hold_reason:
                released.append(entry.harvest_id)
        if stored and not versions_changed and (applied, reason) == (old, stored.hold_reason):
            continue
        writes.append(Write(entry, applied, reason))
        if applied is not None:
            keys.add(applied.key)
        if old is not None and (applied is None or old.key != applied.key):
            emptied.add(old.key)
    store.entries.write(writes, versions_changed=versions_changed)
    store.entries.release(released)
    stats["actuals.rebuilt"] += rebuild_actuals(
        store.entries.conn, store.entries.account_id, keys, emptied=emptied
    )
