"""Autofill consumer: zeros for scheduled working days that have no actual, once a week."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import structlog

from consumers.runs import Clock, db_errors_are_transient, require_account, tracked_run, utcnow
from consumers.time_entries import AccountBusy
from domain.autofill import parse_week, zero_days
from domain.commands import AutofillWeek
from infra.db.autofill import AutofillRepository
from infra.db.uow import UnitOfWork

log = structlog.get_logger(__name__)


@db_errors_are_transient
def handle_autofill_week(
    cmd: AutofillWeek, *, uow: Callable[[], UnitOfWork], clock: Clock = utcnow
) -> Counter:
    account = require_account(uow, cmd.account_id)
    stats: Counter = Counter()
    with (
        tracked_run(uow, account_id=account.id, kind=cmd.run_kind, message_id=cmd.message_id, clock=clock),
        uow() as u,
    ):
        if not u.try_lock(cmd.route.lock, cmd.lock_key):
            raise AccountBusy(f"actuals of account {account.id} are being written elsewhere")
        if not u.claim_message(cmd.route.inbox, cmd.message_id):
            return stats
        if not (account.autofill and account.import_actuals):
            stats["skipped.autofill_off"] = 1
            u.runs.finish(account.id, cmd.message_id, status="skipped", counts=dict(stats), at=clock())
            u.commit()
            return stats
        monday = parse_week(cmd.week)
        sunday = monday + timedelta(days=6)
        repo = AutofillRepository(u.conn, account.id)
        keys = zero_days(
            monday,
            repo.scheduled(monday, sunday),
            working_days=account.working_days,
            time_off=repo.time_off(monday, sunday),
            existing=repo.existing(monday, sunday),
        )
        stats["actuals.autofilled"] = repo.insert_zeros(keys)
        repo.mark_week(monday)
        u.accounts.record_success(account.id, "autofill", clock())
        u.runs.finish(account.id, cmd.message_id, status="succeeded", counts=dict(stats), at=clock())
        u.commit()
    log.info("week_autofilled", account_id=account.id, week=cmd.week, zeros=stats["actuals.autofilled"])
    return stats
