"""Run bookkeeping shared by every consumer: status lines the operator can see while it works.

The 'running' mark and failure marks commit on their own, outside the handler's transaction,
so they survive its rollback; success is written inside it, atomically with the effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from domain.errors import AccountNeedsAttention, TransientError
from infra.db.uow import UnitOfWork

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def tracked_run(
    uow: Callable[[], UnitOfWork], *, account_id: int, kind: str, message_id: str, clock: Clock = utcnow
) -> Iterator[None]:
    """Mark the run running; on failure record why, and flag the account if Harvest refused it."""
    with uow() as u:
        u.runs.mark_running(account_id=account_id, kind=kind, message_id=message_id, at=clock())
        u.commit()
    try:
        yield
    except Exception as exc:
        status = "retrying" if isinstance(exc, TransientError) else "failed"
        with uow() as u:
            u.runs.upsert(
                account_id=account_id,
                kind=kind,
                message_id=message_id,
                status=status,
                error=str(exc)[:1000],
                **({"finished_at": clock()} if status == "failed" else {}),
            )
            u.accounts.record_error(account_id, kind, str(exc)[:1000], clock())
            if isinstance(exc, AccountNeedsAttention):
                u.accounts.set_status(account_id, "needs_attention", str(exc)[:500])
            u.commit()
        raise
