"""Run bookkeeping shared by every consumer: status lines the operator can see while it works.

A run is written in the handler's transaction, atomically with its effects, when it ends; one
that works longer than a moment shows it is running through its progress, in short
transactions of their own. A failure commits on its own, outside the handler's transaction, so
it survives its rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from domain.clock import Clock, utcnow
from domain.errors import AccountNeedsAttention, PermanentError, UnknownAccount
from infra.db.errors import DatabaseError, database_errors_are_transient
from infra.db.uow import UnitOfWork

log = structlog.get_logger(__name__)


@contextmanager
def failures_recorded(
    uow: Callable[[], UnitOfWork], *, account_id: int, kind: str, message_id: str, clock: Clock = utcnow
) -> Iterator[None]:
    """On failure record why, and flag the account if Harvest refused it. A command for an
    account that does not exist is permanent, and has no run to record."""
    try:
        with database_errors_are_transient():
            yield
    except UnknownAccount:
        raise
    except Exception as exc:
        _record_failure(uow, exc, account_id=account_id, kind=kind, message_id=message_id, clock=clock)
        raise


def _record_failure(
    uow: Callable[[], UnitOfWork],
    exc: Exception,
    *,
    account_id: int,
    kind: str,
    message_id: str,
    clock: Clock,
) -> None:
    # Only a permanent failure is final; anything else comes back through a retry or redelivery.
    status = "failed" if isinstance(exc, PermanentError) else "retrying"
    try:
        with uow() as u:
            u.runs.fail(
                account_id=account_id,
                kind=kind,
                message_id=message_id,
                status=status,
                error=str(exc)[:1000],
                at=clock() if status == "failed" else None,
            )
            u.accounts.record_error(account_id, kind, str(exc)[:1000], clock())
            if isinstance(exc, AccountNeedsAttention):
                u.accounts.set_status(account_id, "needs_attention", str(exc)[:500])
            u.commit()
    except DatabaseError:
        # The database may be the thing that failed; the runtime still gets the original error.
        log.warning("run_failure_not_recorded", account_id=account_id, kind=kind, error=str(exc)[:200])
