"""The steps every handler shares, once: require the account, track the run, take the lock, claim
the inbox, map database errors to transient ones, finish the run and commit, then publish what
the handler asked to. A handler is only its body: the business rule, given the command, a
Context and what else it needs as arguments, returning an Outcome.

A run's end is written in the handler's transaction, with its effects; a run that works
longer than a moment shows it is running through its progress, and a failure commits on its
own, so it survives the handler's rollback (consumers.runs). A daily sync of a small account
so costs one transaction.

A long sync commits checkpoints as it goes (consumers.resume). When it has run longer than
`max_message_s` it raises HandOn after a checkpoint: the pipeline publishes the command's
continuation, which carries the same run on from there, and the delivery is acked long before
the broker's consumer timeout. The inbox is keyed by the run and claimed only when the run
completes, so a redelivered message or a continuation of an unfinished run still goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from time import monotonic

import structlog

from consumers.runs import failures_recorded
from domain.accounts import AccountRecord
from domain.clock import Clock, utcnow
from domain.commands import Command
from domain.errors import TransientError, UnknownAccount
from infra.db.errors import database_errors_are_transient
from infra.db.uow import UnitOfWork

log = structlog.get_logger(__name__)

PublishMany = Callable[[Sequence[Command]], None]


class AccountBusy(TransientError):
    """Another pod holds the lock this command needs (an account's entities or actuals, a
    backfill part); try again shortly."""


class HandOn(Exception):
    """Raised by a sync, right after committing a checkpoint, that has used its time: its
    continuation carries the run on. Counts so far travel in the checkpoint."""

    def __init__(self, stats: Counter) -> None:
        super().__init__("handing on to a continuation")
        self.stats = stats


@dataclass(frozen=True)
class Outcome:
    """What a handler did: its counts; the status to finish its run with (None: leave the run
    as it is, e.g. a backfill whose parts finish it); commands to publish once committed."""

    stats: Counter = field(default_factory=Counter)
    status: str | None = "succeeded"
    publish: Sequence[Command] = ()


@dataclass(frozen=True)
class Context:
    """What every handler is given: the account, its unit of work, the clock, a way to show
    progress while it works (in a short transaction of its own, seen at once), and what a long
    sync needs: its run, the time left to this message, and a commit that keeps its lock."""

    account: AccountRecord
    u: UnitOfWork
    clock: Clock
    progress: Callable[[dict], None]
    run_id: str = ""
    time_left: Callable[[], float] = lambda: float("inf")
    commit_and_continue: Callable[[], None] = lambda: None


Body = Callable[..., Outcome]
# Runs under the lock, before the inbox: may settle the command by itself (Outcome), or not.
Guard = Callable[..., Outcome | None]


@dataclass(frozen=True)
class Step:
    body: Body
    guard: Guard | None = None


@dataclass
class Pipeline:
    """Runs each command through its step. Callable with a command; returns its counts."""

    uow: Callable[..., UnitOfWork]  # (account_id=None) -> a unit of work
    steps: dict[type[Command], Step]
    publish_many: PublishMany | None = None
    clock: Clock = utcnow
    # A sync running longer hands on to its continuation (see the module's docstring).
    max_message_s: float = 300.0
    # Progress is written from this many seconds into a message on (see _progress).
    quiet_progress_s: float = 0.5

    def __call__(self, cmd: Command) -> Counter:
        step = self.steps[type(cmd)]
        started = self.clock()
        with database_errors_are_transient(), self._failures_recorded(cmd), self.uow(cmd.account_id) as u:
            ctx = self._context(cmd, self._account_locked(cmd, u), u, started)
            try:
                outcome = self._run(cmd, step, ctx)
            except HandOn as handing_on:
                outcome = Outcome(handing_on.stats, status=None, publish=(cmd.continued(),))
                self._mark_running(cmd, u, started)
            else:
                self._finish(cmd, u, outcome, started)
            u.commit()
        # After the commit: a crash before this publish is healed by the next command's guard,
        # or (a continuation) by the redelivered message carrying on from the checkpoint.
        if outcome.publish and self.publish_many is not None:
            self.publish_many(outcome.publish)
        return outcome.stats

    def _context(self, cmd: Command, account: AccountRecord, u: UnitOfWork, started: datetime) -> Context:
        deadline = monotonic() + self.max_message_s
        return Context(
            account,
            u,
            self.clock,
            self._progress(cmd, started),
            run_id=cmd.run_id,
            time_left=lambda: deadline - monotonic(),
            commit_and_continue=lambda: u.commit_and_continue(cmd.route.lock, cmd.lock_key),
        )

    def _finish(self, cmd: Command, u: UnitOfWork, outcome: Outcome, started: datetime) -> None:
        # The run is done (or settled by its guard): from now on its messages are duplicates.
        u.mark_processed(cmd.route.inbox, cmd.run_id)
        if outcome.status is not None and cmd.run_kind is not None:
            u.runs.finish(
                cmd.account_id,
                cmd.run_id,
                kind=cmd.run_kind,
                status=outcome.status,
                counts=dict(outcome.stats),
                at=self.clock(),
                started_at=started,
            )

    def _mark_running(self, cmd: Command, u: UnitOfWork, started: datetime) -> None:
        """A run carried on by another message shows running, however quick this one was."""
        if cmd.run_kind is not None:
            u.runs.mark_running(
                account_id=cmd.account_id, kind=cmd.run_kind, message_id=cmd.run_id, at=started
            )

    def _account_locked(self, cmd: Command, u: UnitOfWork) -> AccountRecord:
        """The command's account, held, with the command's lock taken: one round trip."""
        account, locked = u.account(cmd.route.lock, cmd.lock_key)
        if account is None:
            raise UnknownAccount(f"account {cmd.account_id} does not exist")
        if not locked:
            raise AccountBusy(
                f"{type(cmd).__name__} for account {cmd.account_id}: its {cmd.route.lock.name.lower()}"
                " lock is held elsewhere"
            )
        return account

    def _run(self, cmd: Command, step: Step, ctx: Context) -> Outcome:
        if step.guard is not None and (settled := step.guard(cmd, ctx)) is not None:
            return settled
        if ctx.u.processed(cmd.route.inbox, cmd.run_id):
            log.info("duplicate_skipped", account_id=cmd.account_id, message_id=cmd.message_id)
            return Outcome(status=None)
        return step.body(cmd, ctx)

    def _failures_recorded(self, cmd: Command) -> AbstractContextManager[None]:
        if cmd.run_kind is None:
            return nullcontext()
        return failures_recorded(
            self.uow, account_id=cmd.account_id, kind=cmd.run_kind, message_id=cmd.run_id, clock=self.clock
        )

    def _progress(self, cmd: Command, started: datetime) -> Callable[[dict], None]:
        # A message done within this time shows no progress: nobody could have watched it, and
        # a daily sync would spend a transaction of its own on it. A wait on Harvest shows at once.
        quiet_until = monotonic() + self.quiet_progress_s

        def show(progress: dict) -> None:
            if "waiting" not in progress and monotonic() < quiet_until:
                return
            if cmd.run_kind is None:
                return
            with self.uow() as p:
                p.runs.mark_running(
                    account_id=cmd.account_id,
                    kind=cmd.run_kind,
                    message_id=cmd.run_id,
                    at=started,
                    progress=progress,
                    durable=False,
                )
                p.commit()

        return show
