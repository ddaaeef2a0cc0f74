"""Sync commands by hand: which commands a request means, publishing them as tracked runs,
and running them one after another (entities before the actuals that need them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import pairwise

import structlog

from domain.accounts import AccountRecord
from domain.autofill import last_finished_week, week_label
from domain.commands import AutofillWeek, Command, SyncActuals, SyncEntities
from infra.app import App
from producers.services.errors import BROKER_ERRORS, ServiceError

log = structlog.get_logger(__name__)

WHAT_KINDS = {
    "clients-projects": ("clients_projects",),
    "people": ("people",),
    "actuals": ("actuals",),
    "autofill": ("autofill",),
    "all": ("clients_projects", "people", "actuals"),
}
FINAL_STATUSES = ("succeeded", "failed", "skipped")
ACTIVE_STATUSES = ("queued", "running", "retrying")
POLL_S = 0.25


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sync_commands(
    account: AccountRecord, what: str, *, full: bool = False, week: str | None = None
) -> list[Command]:
    """The commands `what` (a WHAT_KINDS key) stands for, entities first."""
    kinds = WHAT_KINDS[what]
    commands: list[Command] = []
    entity_kinds = tuple(k for k in kinds if k in ("clients_projects", "people"))
    if entity_kinds:
        commands.append(SyncEntities(account_id=account.id, kinds=entity_kinds, requested_at=now_iso()))
    if "actuals" in kinds:
        commands.append(SyncActuals(account_id=account.id, requested_at=now_iso(), full_reconcile=full))
    if "autofill" in kinds:
        week = week or week_label(last_finished_week(datetime.now(UTC), account.timezone))
        commands.append(AutofillWeek(account_id=account.id, week=week, requested_at=now_iso()))
    return commands


def enabled_commands(account: AccountRecord) -> list[Command]:
    """What "Save and run" starts: the imports the account has on, entities first."""
    kinds = tuple(k for k in ("clients_projects", "people") if account.imports(k))
    commands: list[Command] = []
    if kinds:
        commands.append(SyncEntities(account_id=account.id, kinds=kinds, requested_at=now_iso()))
    if account.imports("actuals"):
        commands.append(SyncActuals(account_id=account.id, requested_at=now_iso()))
    return commands


def publish_tracked(app: App, cmd: Command) -> None:
    """Record the run as queued, then publish: `--wait`, `admin status` and the console follow it."""
    _record(app, [cmd], status="queued", requested_at=datetime.now(UTC))
    app.publish(cmd)


def publish_all(app: App, commands: list[Command]) -> None:
    """Publish each as a tracked run; a broker that refuses is one line, not a traceback."""
    with _broker_refusals():
        for cmd in commands:
            publish_tracked(app, cmd)


def queue_in_order(app: App, commands: list[Command]) -> None:
    """Show every run as queued, publish the first; `continue_in_order` publishes the rest,
    each once the one before it has succeeded, so actuals find the people just imported."""
    _record(app, commands, status="queued", requested_at=datetime.now(UTC))
    with _broker_refusals():
        app.publish(commands[0])


def continue_in_order(app: App, commands: list[Command], timeout_s: float = 1800) -> None:
    """After queue_in_order. A run that fails or does not end in time leaves the ones after it
    skipped, with the reason (the daily schedule runs them later)."""
    for before, cmd in pairwise(commands):
        status = final_status(app, before.account_id, before.message_id, timeout_s)
        if status not in ("succeeded", "skipped"):
            _skip(app, commands[commands.index(cmd) :], f"not run: the {before.run_kind} run is {status}")
            return
        try:
            app.publish(cmd)
        except BROKER_ERRORS as exc:
            _skip(
                app, commands[commands.index(cmd) :], f"not run: RabbitMQ refused it ({type(exc).__name__})"
            )
            return


def _record(app: App, commands: list[Command], **values: object) -> None:
    """Each command's run, as `values` say (status, times, error), in one transaction."""
    with app.uow() as u:
        for cmd in commands:
            u.runs.upsert(account_id=cmd.account_id, kind=cmd.run_kind, message_id=cmd.message_id, **values)
        u.commit()


def _skip(app: App, commands: list[Command], reason: str) -> None:
    _record(app, commands, status="skipped", error=reason, finished_at=datetime.now(UTC))
    log.warning("runs_in_order_stopped", account_id=commands[0].account_id, reason=reason)


@contextmanager
def _broker_refusals() -> Iterator[None]:
    try:
        yield
    except BROKER_ERRORS as exc:
        raise ServiceError(
            f"RabbitMQ did not take the command ({type(exc).__name__}): is it running?"
        ) from None


def final_status(app: App, account_id: int, message_id: str, timeout_s: float) -> str | None:
    """The run's status once final, or its last status when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        with app.uow() as u:
            run = u.runs.get(account_id, message_id)
        status = run["status"] if run else None
        if status in FINAL_STATUSES or time.monotonic() > deadline:
            return status
        time.sleep(POLL_S)
