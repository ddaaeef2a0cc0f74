"""An account's sync state, per kind: the last successful sync (the seed's "last sync date"),
the next scheduled one, the run in progress and the last error. The CLI prints it, the
console draws it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.accounts import AccountRecord
from domain.progress import Progress, read_progress
from domain.schedule import AccountSchedule, next_slot
from infra.db.uow import UnitOfWork
from producers.services.syncs import ACTIVE_STATUSES

# kind -> the scheduler's slot kind that syncs it
KINDS = {
    "clients_projects": "entities",
    "people": "entities",
    "actuals": "actuals",
    "autofill": "autofill",
}


@dataclass(frozen=True)
class KindStatus:
    kind: str
    on: bool
    last_success_at: datetime | None
    next_at: datetime | None
    run: dict | None  # the run in progress (queued, running or retrying), if any
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True)
class ActiveRun:
    run: dict
    progress: Progress


@dataclass(frozen=True)
class AccountStatus:
    account: AccountRecord
    kinds: list[KindStatus]
    active_runs: list[ActiveRun]


def account_status(u: UnitOfWork, acct: AccountRecord, now: datetime) -> AccountStatus:
    schedule = AccountSchedule(
        acct.id,
        acct.timezone,
        acct.import_clients_projects,
        acct.import_people,
        acct.import_actuals,
        acct.autofill,
    )
    state = u.accounts.sync_state(acct.id)
    kinds = []
    active: dict[str, ActiveRun] = {}
    for kind, slot_kind in KINDS.items():
        s = state.get(kind, {})
        on = acct.imports(kind)
        run = u.runs.latest_for(acct.id, kind)
        current = run if run and run["status"] in ACTIVE_STATUSES else None
        if current is not None:
            progress = read_progress(current["progress"] or {}, current["started_at"], now)
            active.setdefault(current["message_id"], ActiveRun(current, progress))
        kinds.append(
            KindStatus(
                kind=kind,
                on=on,
                last_success_at=s.get("last_success_at"),
                next_at=next_slot(schedule, slot_kind, now) if on and acct.status == "active" else None,
                run=current,
                last_error=s.get("last_error"),
                last_error_at=s.get("last_error_at"),
            )
        )
    return AccountStatus(acct, kinds, list(active.values()))


def latest_run(u: UnitOfWork, account_id: int, kind: str) -> dict | None:
    """The newest run that covered `kind`, whatever its status."""
    return u.runs.latest_for(account_id, kind)
