"""Users who work while a client pages through /time_entries: mutations applied right after a
given page of a listing is served, before the client can ask for the next one.

Harvest pages time entries by page number, so a deletion or a move on a page already read
shifts later rows onto it: a client that is not careful never sees them. A hook makes that
happen at an exact point of a listing, e.g. "after page 2 of the next listing with
`updated_since`, delete entry 42", from a test in process (any callable) or over the control
API (JSON mutations, see `mutation_action`).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.schema import COLLECTIONS, StoreError
from simulator.store import AccountStore

Action = Callable[[AccountStore], None]
# A request parameter's expected value; True: present with any value, False: absent.
Expected = str | bool


@dataclass
class ListingHook:
    """Fire `action` after page `after_page` of a /time_entries listing whose parameters
    match `match`, at most `times` times. Counts (`per_page=1`) are not listings unless
    `include_counts`. `between_pages`: only if that page has a next one, so the change falls
    between two page requests of the listing (not after its last page)."""

    id: int
    account_id: int
    after_page: int
    action: Action
    match: dict[str, Expected] = field(default_factory=dict)
    times: int = 1
    include_counts: bool = False
    between_pages: bool = False
    description: str = ""
    fired: int = 0

    def matches(self, account_id: int, page: int, has_next: bool, params: Mapping[str, str]) -> bool:
        if account_id != self.account_id or page != self.after_page or self.fired >= self.times:
            return False
        if self.between_pages and not has_next:
            return False
        if not self.include_counts and params.get("per_page") == "1":
            return False
        return all(_expected(params.get(name), want) for name, want in self.match.items())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "after_page": self.after_page,
            "match": self.match,
            "times": self.times,
            "include_counts": self.include_counts,
            "between_pages": self.between_pages,
            "fired": self.fired,
            "description": self.description,
        }


def _expected(value: str | None, want: Expected) -> bool:
    if want is True:
        return value is not None
    if want is False:
        return value is None
    return value == want


class ListingHooks:
    """The hooks of every account; thread-safe (the server answers requests in threads)."""

    def __init__(self) -> None:
        self._hooks: list[ListingHook] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        account_id: int,
        after_page: int,
        action: Action,
        *,
        match: Mapping[str, Expected] | None = None,
        times: int = 1,
        include_counts: bool = False,
        between_pages: bool = False,
        description: str = "",
    ) -> ListingHook:
        if after_page < 1 or times < 1:
            raise ValueError("after_page and times must be at least 1")
        with self._lock:
            hook = ListingHook(
                next(self._ids),
                account_id,
                after_page,
                action,
                dict(match or {}),
                times,
                include_counts,
                between_pages,
                description,
            )
            self._hooks.append(hook)
        return hook

    def due(self, account_id: int, page: int, has_next: bool, params: Mapping[str, str]) -> list[ListingHook]:
        """Hooks to fire after serving this page; each is counted as fired."""
        with self._lock:
            due = [h for h in self._hooks if h.matches(account_id, page, has_next, params)]
            for hook in due:
                hook.fired += 1
        return due

    def of(self, account_id: int) -> list[ListingHook]:
        with self._lock:
            return [h for h in self._hooks if h.account_id == account_id]

    def clear(self, account_id: int | None = None) -> None:
        with self._lock:
            self._hooks = [h for h in self._hooks if account_id is not None and h.account_id != account_id]


def mutation_action(mutations: list[Any]) -> Action:
    """An action from JSON: `{"op": "create"|"update"|"delete", "collection": "time_entries",
    "id": N, "fields": {...}}` each (collection defaults to time_entries). Back-dating and
    moves are updates of `spent_date`, `project_id` or `user_id`. Checked before it is
    stored, so a bad hook is refused at once rather than failing in the middle of a listing."""
    if not isinstance(mutations, list) or not mutations:
        raise StoreError(422, "mutations must be a non-empty list")
    steps = [_step(m) for m in mutations]

    def apply(store: AccountStore) -> None:
        for step in steps:
            step(store)

    return apply


def _step(mutation: Any) -> Action:
    if not isinstance(mutation, dict):
        raise StoreError(422, "each mutation must be an object")
    op = mutation.get("op")
    collection = mutation.get("collection", "time_entries")
    if collection not in COLLECTIONS:
        raise StoreError(422, f"unknown collection {collection!r}")
    fields = mutation.get("fields") or {}
    if not isinstance(fields, dict):
        raise StoreError(422, "fields must be an object")
    record_id = mutation.get("id")
    if op in ("update", "delete") and (isinstance(record_id, bool) or not isinstance(record_id, int)):
        raise StoreError(422, f"{op} needs an integer id")
    if op == "create":
        return lambda store: _quietly(lambda: store.create(collection, fields))
    if op == "update":
        return lambda store: _quietly(lambda: store.update(collection, record_id, fields))
    if op == "delete":
        return lambda store: _quietly(lambda: store.delete(collection, record_id))
    raise StoreError(422, "op must be create, update or delete")


def _quietly(change: Callable[[], object]) -> None:
    """A mutation Harvest would refuse (an id deleted meanwhile, a rule) is skipped: a user's
    click that fails does not stop the listing in progress."""
    with contextlib.suppress(StoreError):
        change()
