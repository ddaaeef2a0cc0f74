"""Commands: small frozen dataclasses of primitives, one handler each, and where each goes.

A command's message_id is deterministic, so a scheduler re-run or a publisher retry collapses
into one effect at the consumer's inbox. Each command declares its route once: its type on the
wire, the queue it travels on, the inbox that deduplicates it, the kind of run it is tracked
as, and the advisory lock it holds. The message codec, the broker topology, the workers' queues,
the admin CLI and the consumer pipeline all read it from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import ClassVar

ENTITY_KINDS = ("clients_projects", "people")


class Lock(IntEnum):
    """Advisory-lock namespaces: the first key of `pg_try_advisory_xact_lock(int, int)`."""

    ENTITIES = 1  # entity discovery of one account
    ACTUALS = 2  # the actuals of one account: its sync and its autofill never overlap
    REQUEST_LOG = 3  # one account's shared log of Harvest requests
    BACKFILL_PART = 4  # one part of a split first sync (keyed by a hash of its message id)
    REPORTS_LOG = 5  # one account's shared log of Harvest /reports/* requests


@dataclass(frozen=True)
class Route:
    """Where a command goes and what the pipeline does around its handler."""

    wire_type: str
    queue: str
    inbox: str  # processed_messages.consumer: its ids are deduplicated per inbox
    run_kind: str | None  # the kind of sync_runs row that tracks it; None: not tracked
    lock: Lock
    # Queues it travelled on in earlier versions: a delivery from one is still its own (an
    # upgraded broker may hold it there, or in that queue's retry tiers and dead letters).
    former_queues: tuple[str, ...] = ()

    def accepts(self, queue: str) -> bool:
        """Whether a delivery of this command from `queue` is where it belongs."""
        return queue == self.queue or queue in self.former_queues


class Command:
    """What every command has; the concrete ones are frozen dataclasses below."""

    route: ClassVar[Route]
    account_id: int

    @property
    def run_id(self) -> str:
        """The id of the whole run: its first message's id, shared by its continuations."""
        raise NotImplementedError

    @property
    def message_id(self) -> str:
        piece = getattr(self, "piece", 0)
        return f"{self.run_id}:piece{piece}" if piece else self.run_id

    def continued(self) -> Command:
        """The message that carries the run on from its checkpoint (a sync handing on)."""
        raise TypeError(f"{type(self).__name__} is not a sync that hands on")

    @property
    def run_kind(self) -> str | None:
        return self.route.run_kind

    @property
    def lock_key(self) -> int | str:
        """The second key of the command's lock: its account, unless it says otherwise."""
        return self.account_id


@dataclass(frozen=True)
class SyncEntities(Command):
    """Import new clients & projects and/or people of one account, create-only."""

    route = Route("sync_entities", "entities", "entities", "entities", Lock.ENTITIES)

    account_id: int
    kinds: tuple[str, ...]
    requested_at: str  # ISO 8601 UTC; the slot or the moment an operator asked

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in ENTITY_KINDS]
        if not self.kinds or unknown:
            raise ValueError(f"kinds must be a non-empty subset of {ENTITY_KINDS}, got {self.kinds}")

    @property
    def run_id(self) -> str:
        return f"sync-entities:{self.account_id}:{'+'.join(self.kinds)}:{self.requested_at}"

    @property
    def run_kind(self) -> str:
        return "+".join(self.kinds)


@dataclass(frozen=True)
class SyncActuals(Command):
    """Bring an account's actuals in line with Harvest: changed entries since the last sync,
    then deletions of any age (all history listed when `full_reconcile`); with `verify`,
    then compare our totals with Harvest's own reports."""

    # Its queue and inbox keep the name time_entries: deployed brokers hold messages in that
    # queue, and the inbox holds the ids of those already processed.
    route = Route("sync_actuals", "time_entries", "time_entries", "actuals", Lock.ACTUALS)

    account_id: int
    requested_at: str
    full_reconcile: bool = False
    verify: bool = False
    # 0 for the run's first message; n for the n-th continuation of a sync that handed on.
    piece: int = 0

    def __post_init__(self) -> None:
        _check_piece(self.piece)

    def continued(self) -> SyncActuals:
        return replace(self, piece=self.piece + 1)

    @property
    def run_id(self) -> str:
        suffix = (":full" if self.full_reconcile else "") + (":verify" if self.verify else "")
        return f"sync-actuals:{self.account_id}:{self.requested_at}{suffix}"


@dataclass(frozen=True)
class AutofillWeek(Command):
    """Write autofilled zeros for one finished week (ISO, e.g. '2026-W47') of one account."""

    # Autofill writes actuals too: it holds the actuals lock, so it never races their sync.
    route = Route("autofill_week", "autofill", "autofill", "autofill", Lock.ACTUALS)

    account_id: int
    week: str
    requested_at: str

    def __post_init__(self) -> None:
        from domain.autofill import parse_week

        parse_week(self.week)

    @property
    def run_id(self) -> str:
        return f"autofill:{self.account_id}:{self.week}:{self.requested_at}"


@dataclass(frozen=True)
class BackfillPart(Command):
    """One spent-date range of an account's first actuals sync, split so workers share it.
    Not a run of its own: the part that completes the backfill finishes the SyncActuals run
    that planned it."""

    # A queue of its own, so that a worker busy with a long part still takes dailies (a worker
    # of time_entries consumes backfill too, one delivery of each at a time: see
    # CONSUMED_ALONGSIDE). Versions before it sent parts on time_entries.
    route = Route(
        "backfill_part", "backfill", "backfill", None, Lock.BACKFILL_PART, former_queues=("time_entries",)
    )

    account_id: int
    backfill_id: str  # the message id of the SyncActuals that planned the backfill
    part: int
    start: str  # ISO dates, inclusive
    end: str
    piece: int = 0  # as SyncActuals.piece

    def __post_init__(self) -> None:
        _check_piece(self.piece)

    def continued(self) -> BackfillPart:
        return replace(self, piece=self.piece + 1)

    @property
    def run_id(self) -> str:
        return f"backfill-part:{self.account_id}:{self.backfill_id}:{self.part}"

    @property
    def lock_key(self) -> str:
        # Parts of one account run side by side: each locks only itself.
        return self.run_id


def _check_piece(piece: int) -> None:
    if piece < 0:
        raise ValueError(f"piece must be 0 or more, got {piece}")


COMMANDS: tuple[type[Command], ...] = (SyncEntities, SyncActuals, AutofillWeek, BackfillPart)
BY_WIRE_TYPE: dict[str, type[Command]] = {c.route.wire_type: c for c in COMMANDS}
QUEUES: tuple[str, ...] = tuple(dict.fromkeys(c.route.queue for c in COMMANDS))

# A worker told to consume a queue on the left consumes those on the right as well, unless told
# to consume only what it names: the bulk of a first sync follows the dailies' workers, so a
# deployment that named time_entries before backfill parts had a queue of their own still
# finishes first syncs.
CONSUMED_ALONGSIDE: dict[str, tuple[str, ...]] = {"time_entries": ("backfill",)}


# Queues of long deliveries a worker takes one at a time, whatever PREFETCH says: more at once
# would only take CPU from the small deliveries beside them, and spread the parts of one
# backfill unevenly over the workers.
ONE_AT_A_TIME: tuple[str, ...] = ("backfill",)


def consumed_queues(named: Sequence[str], *, only_named: bool = False) -> tuple[str, ...]:
    """The queues a worker told `named` consumes: each with what goes alongside it, in order."""
    out: list[str] = []
    for queue in named:
        out.append(queue)
        if not only_named:
            out.extend(CONSUMED_ALONGSIDE.get(queue, ()))
    return tuple(dict.fromkeys(out))
