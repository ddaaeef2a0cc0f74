"""The repositories one account's actuals sync writes through, in one transaction: its time
entries, what resolving them needs, and what finding deletions reads and writes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa

from domain.actuals import Key, hold_stands
from infra.db.accounts import AccountRepository
from infra.db.actuals import add_to_actuals, rebuild_actuals
from infra.db.deletions import DeletionRepository
from infra.db.lookups import ResolutionLookups
from infra.db.time_entries import TimeEntryRepository


@dataclass
class EntryStore:
    entries: TimeEntryRepository
    lookups: ResolutionLookups
    deletions: DeletionRepository

    @classmethod
    def open(cls, conn: sa.Connection, account_id: int, *, hold: bool = True) -> EntryStore:
        """`hold=False`: the caller holds the account row already (AccountRepository.hold)."""
        lookups = ResolutionLookups(conn, account_id)
        entries = TimeEntryRepository(conn, account_id, hold_stands=partial(_holds_stand, lookups))
        if hold:
            AccountRepository.hold_row(conn, account_id)
        return cls(entries, lookups, DeletionRepository(conn, account_id))

    def rebuild_actuals(self, keys: Iterable[Key], *, emptied: Iterable[Key] = ()) -> int:
        """Recompute the actuals of `keys` (and of `emptied`, which may have lost their last
        entry) from the entries that count under them."""
        return rebuild_actuals(self.entries.conn, self.entries.account_id, keys, emptied=emptied)

    def add_to_actuals(self, minutes: dict[Key, tuple[int, int]]) -> None:
        """Add (billable, non-billable) minutes of entries just inserted to their keys' actuals."""
        add_to_actuals(self.entries.conn, self.entries.account_id, minutes)


def _holds_stand(lookups: ResolutionLookups, groups: list[tuple[int, int, str]]) -> list[bool]:
    """For each (Harvest user, Harvest project, hold reason) of held entries: whether that
    hold still stands, i.e. re-resolving them would change nothing."""
    people = lookups.people({u for u, _, _ in groups})
    projects = lookups.projects({p for _, p, _ in groups})
    return [hold_stands(reason, people.get(user), projects.get(project)) for user, project, reason in groups]
