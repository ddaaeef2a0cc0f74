"""What a person sees while a run works: `admin sync --wait` draws a live bar on a terminal and
prints a plain line every few seconds into a pipe; `admin status --watch` refreshes until the
runs finish.

The test plays the worker: it writes the run's progress row as the consumer does every page
(the keys of the run progress contract), so each state is shown exactly and for as long as the
test needs. The command, PostgreSQL and RabbitMQ are real.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from infra.db import tables as t
from tests.integration.helpers import eventually
from tests.integration.terminal import Terminal

STARTED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# Ten seconds in: half of Harvest's total_entries, a 429 being waited out.
HALF = {
    "pages": 3,
    "entries": 500,
    "total_entries": 1000,
    "retries": 1,
    "waiting": "rate limited, 4 s",
    "at": (STARTED + timedelta(seconds=10)).isoformat(),
    "entries.received": 500,
}
HALF_LINE = (
    "500/1,000 entries (50%), 3 pages, 50 entries/s, ETA 10 s, 1 retry, "
    "waiting for Harvest: rate limited, 4 s"
)
MOST = {
    **HALF,
    "pages": 4,
    "entries": 800,
    "waiting": None,
    "at": (STARTED + timedelta(seconds=16)).isoformat(),
}
MOST_LINE = "800/1,000 entries (80%), 4 pages, 50 entries/s, ETA 4 s, 1 retry"
COUNTS = {"entries.received": 1000, "entries.changed": 1000}


class PlayedWorker:
    """Writes one run's rows as the time-entry consumer does."""

    def __init__(self, app, account_id: int, message_id: str) -> None:
        self.app, self.account_id, self.message_id = app, account_id, message_id

    def running(self) -> None:
        with self.app.uow() as u:
            u.runs.mark_running(
                account_id=self.account_id, kind="actuals", message_id=self.message_id, at=STARTED
            )
            u.commit()

    def progress(self, progress: dict) -> None:
        with self.app.uow() as u:
            u.runs.mark_running(
                account_id=self.account_id,
                kind="actuals",
                message_id=self.message_id,
                at=STARTED,
                progress={k: v for k, v in progress.items() if v},
            )
            u.commit()

    def succeed(self) -> None:
        with self.app.uow() as u:
            u.runs.finish(
                self.account_id,
                self.message_id,
                kind="actuals",
                status="succeeded",
                counts=COUNTS,
                at=STARTED,
            )
            u.commit()


def queued_run(engine, account_id: int) -> str:
    """The message id of the run the command under test recorded as queued."""

    def find() -> str | None:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(t.sync_runs.c.message_id).where(
                    t.sync_runs.c.account_id == account_id, t.sync_runs.c.status == "queued"
                )
            ).scalar()

    return eventually(find, timeout=30, what="the queued run")


@pytest.fixture
def account_id(new_account) -> int:
    return new_account()[0]


def sync_wait(account_id: int) -> list[str]:
    return ["admin", "sync", str(account_id), "--what", "actuals", "--wait", "--timeout", "60"]


def test_sync_wait_draws_a_live_bar_on_a_terminal(app, env, engine, account_id):
    term = Terminal(sync_wait(account_id), env)
    try:
        worker = PlayedWorker(app, account_id, queued_run(engine, account_id))
        term.wait_for("actuals")  # the bar is up while the run is queued
        worker.running()
        worker.progress(HALF)
        term.wait_for(HALF_LINE)
        worker.progress(MOST)
        term.wait_for(MOST_LINE)
        worker.succeed()
        assert term.finish() == 0
    finally:
        term.kill()
    # The bar, redrawn in place, filled to half and then to 80% of its 30 cells
    filled = [len(cells) for cells in re.findall(r"(━+)(?:\x1b\[[0-9;]*m)+╺", term.raw)]
    assert 15 in filled and 24 in filled and filled.index(15) < filled.index(24), filled
    assert term.text.rstrip().endswith(
        'run succeeded: {"entries.changed": 1000, "entries.received": 1000}'
    )  # then the summary it always printed


def test_sync_wait_prints_a_plain_line_every_few_seconds_into_a_pipe(app, env, engine, account_id):
    term = Terminal(sync_wait(account_id), env, tty=False)
    try:
        worker = PlayedWorker(app, account_id, queued_run(engine, account_id))
        worker.running()
        worker.progress(HALF)
        first = term.wait_for(f"actuals running: {HALF_LINE}\n")
        worker.progress(MOST)
        second = term.wait_for(f"actuals running: {MOST_LINE}\n")
        worker.succeed()
        assert term.finish() == 0
    finally:
        term.kill()
    assert second - first >= 2.5  # every few seconds, not at every poll
    lines = term.raw.splitlines()
    assert lines[0].startswith("published ")
    assert lines[-1] == 'run succeeded: {"entries.changed": 1000, "entries.received": 1000}'
    assert all(line.startswith("actuals running: ") for line in lines[1:-1]), lines
    assert "\x1b" not in term.raw and "\r" not in term.raw  # nothing drawn over, fit for a log


def _start_actuals_run(app, account_id: int) -> PlayedWorker:
    from domain.commands import SyncActuals
    from producers.admin import publish_tracked

    cmd = SyncActuals(account_id=account_id, requested_at=datetime.now(UTC).isoformat())
    publish_tracked(app, cmd)
    worker = PlayedWorker(app, account_id, cmd.message_id)
    worker.running()
    worker.progress(HALF)
    return worker


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "pipe"])
def test_status_watch_refreshes_until_the_runs_finish(app, env, account_id, tty):
    worker = _start_actuals_run(app, account_id)
    term = Terminal(["admin", "status", str(account_id), "--watch"], env, tty=tty)
    try:
        term.wait_for(f"current run: actuals running: {HALF_LINE}")
        worker.progress(MOST)
        term.wait_for(f"current run: actuals running: {MOST_LINE}")
        worker.succeed()
        assert term.finish() == 0  # it stops by itself once nothing is queued or running
    finally:
        term.kill()
    last_view = term.text.rsplit(f"account {account_id} ", 1)[1]
    assert "current run" not in last_view and "  actuals " in last_view
    assert ("\x1b[" in term.raw) is tty
