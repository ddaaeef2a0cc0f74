"""Indexes over one account's time entries, so that a daily sync's queries (entries updated
since a moment, running timers, a range of spent dates) do not scan every entry. Harvest
answers these from indexed storage; a simulator that scanned ~750k entries per new query made
a benchmark measure itself instead of the client.

Both indexes are built on first use and then kept up to date by the store's writes; a bulk
load (the generator) or an edit that moves an entry back in time drops them for a rebuild.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from operator import attrgetter
from typing import Any


class EntryIndexes:
    # Writes stamped out of order wait in a small unsorted list, merged when it grows past this.
    RECENT_LIMIT = 20_000

    def __init__(self) -> None:
        # (updated_at, id) of every entry, ascending, as two lists; a pair whose entry has
        # changed since is stale and skipped when read.
        self._stamps: list[float] | None = None
        self._ids: list[int] = []
        self._recent: list[tuple[float, int]] = []
        self._running: set[int] | None = None

    def invalidate(self) -> None:
        self._stamps = None
        self._running = None

    def build(self, table: dict[int, Any]) -> None:
        """Index every entry now (after a bulk load), rather than on the first query."""
        ordered = sorted(table.values(), key=_STAMP_ORDER)
        self._stamps = [e.updated_at for e in ordered]
        self._ids = [e.id for e in ordered]
        self._recent = []
        self._running = {e.id for e in ordered if e.is_running}

    def written(self, entry: Any) -> None:
        """An entry was created or updated."""
        if self._stamps is not None:
            if not self._stamps or (entry.updated_at, entry.id) >= (self._stamps[-1], self._ids[-1]):
                self._stamps.append(entry.updated_at)
                self._ids.append(entry.id)
            else:  # stamped earlier than the newest (a back-dated edit)
                self._recent.append((entry.updated_at, entry.id))
                if len(self._recent) > self.RECENT_LIMIT:
                    self._stamps = None
        if self._running is not None:
            if entry.is_running:
                self._running.add(entry.id)
            else:
                self._running.discard(entry.id)

    def removed(self, entry_id: int) -> None:
        if self._running is not None:
            self._running.discard(entry_id)

    def updated_since(self, table: dict[int, Any], since: float, inclusive: bool) -> list[Any]:
        """Entries with updated_at after `since` (or at it, when inclusive), in no order."""
        if self._stamps is None:
            self.build(table)
        assert self._stamps is not None
        start = (bisect_left if inclusive else bisect_right)(self._stamps, since)
        newer = zip(self._stamps[start:], self._ids[start:], strict=True)
        late = [(u, i) for u, i in self._recent if (u >= since if inclusive else u > since)]
        return list(_current(table, [*newer, *late]))

    def running(self, table: dict[int, Any]) -> list[Any]:
        if self._running is None:
            self.build(table)
        assert self._running is not None
        return [table[i] for i in self._running if i in table]


_STAMP_ORDER = attrgetter("updated_at", "id")


def _current(table: dict[int, Any], pairs: Iterable[tuple[float, int]]) -> Iterable[Any]:
    seen: set[int] = set()
    for stamp, entry_id in pairs:
        entry = table.get(entry_id)
        if entry is not None and entry.updated_at == stamp and entry_id not in seen:
            seen.add(entry_id)
            yield entry


def spent_range(items: list[Any], start: str | None, end: str | None) -> list[Any]:
    """The slice of `items` (in API order: spent_date descending, then id descending) with
    spent_date from `start` to `end`, both inclusive, found by bisection."""
    n = len(items)
    rev = _Reversed(items)
    lo = 0 if end is None else n - bisect_right(rev, end)
    hi = n if start is None else n - bisect_left(rev, start)
    return items[lo:hi]


class _Reversed:
    """items' spent dates read back to front (ascending), for bisect without a copy."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> str:
        return self._items[len(self._items) - 1 - i].spent_date
