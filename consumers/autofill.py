"""Autofill consumer: zeros for scheduled working days that have no actual, once a week."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import structlog

from consumers.pipeline import Context, Outcome
from domain.autofill import parse_week, zero_days
from domain.commands import AutofillWeek

log = structlog.get_logger(__name__)


def autofill_week(cmd: AutofillWeek, ctx: Context) -> Outcome:
    account, u = ctx.account, ctx.u
    stats: Counter = Counter()
    if not (account.autofill and account.import_actuals):
        stats["skipped.autofill_off"] = 1
        return Outcome(stats, status="skipped")
    monday = parse_week(cmd.week)
    sunday = monday + timedelta(days=6)
    repo = u.autofill
    keys = zero_days(
        monday,
        repo.scheduled(monday, sunday),
        working_days=account.working_days,
        time_off=repo.time_off(monday, sunday),
        existing=repo.existing(monday, sunday),
    )
    stats["actuals.autofilled"] = repo.insert_zeros(keys)
    repo.mark_week(monday)
    u.accounts.record_success(account.id, "autofill", ctx.clock())
    log.info("week_autofilled", account_id=account.id, week=cmd.week, zeros=stats["actuals.autofilled"])
    return Outcome(stats)
