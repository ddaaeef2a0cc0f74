"""Commands: small frozen dataclasses of primitives, one handler each.

A command's message_id is deterministic, so a scheduler re-run or a publisher retry collapses
into one effect at the consumer's inbox.
"""

from __future__ import annotations

from dataclasses import dataclass

ENTITY_KINDS = ("clients_projects", "people")


@dataclass(frozen=True)
class SyncEntities:
    """Import new clients & projects and/or people of one account, create-only."""

    account_id: int
    kinds: tuple[str, ...]
    requested_at: str  # ISO 8601 UTC; the slot or the moment an operator asked

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in ENTITY_KINDS]
        if not self.kinds or unknown:
            raise ValueError(f"kinds must be a non-empty subset of {ENTITY_KINDS}, got {self.kinds}")

    @property
    def message_id(self) -> str:
        return f"sync-entities:{self.account_id}:{'+'.join(self.kinds)}:{self.requested_at}"


@dataclass(frozen=True)
class SyncActuals:
    """Bring an account's actuals in line with Harvest: changed entries since the last sync,
    then deletions of any age (all history listed when `full_reconcile`); with `verify`,
    then compare our totals with Harvest's own reports."""

    account_id: int
    requested_at: str
    full_reconcile: bool = False
    verify: bool = False

    @property
    def message_id(self) -> str:
        suffix = (":full" if self.full_reconcile else "") + (":verify" if self.verify else "")
        return f"sync-actuals:{self.account_id}:{self.requested_at}{suffix}"


@dataclass(frozen=True)
class AutofillWeek:
    """Write autofilled zeros for one finished week (ISO, e.g. '2026-W47') of one account."""

    account_id: int
    week: str
    requested_at: str

    def __post_init__(self) -> None:
        from domain.autofill import parse_week

        parse_week(self.week)

    @property
    def message_id(self) -> str:
        return f"autofill:{self.account_id}:{self.week}:{self.requested_at}"


@dataclass(frozen=True)
class BackfillPart:
    """One spent-date range of an account's first actuals sync, split so workers share it."""

    account_id: int
    backfill_id: str  # the message id of the SyncActuals that planned the backfill
    part: int
    start: str  # ISO dates, inclusive
    end: str

    @property
    def message_id(self) -> str:
        return f"backfill-part:{self.account_id}:{self.backfill_id}:{self.part}"


Command = SyncEntities | SyncActuals | AutofillWeek | BackfillPart
