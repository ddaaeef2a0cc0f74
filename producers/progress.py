"""What a person sees while runs work: a live bar on a terminal, a plain line every few seconds
anywhere else (a log file, CI, a pipe), and the `admin status --watch` view.

A run's progress is its ``sync_runs.progress`` row, which the consumer rewrites every page
(keys in the run progress contract: ``pages``, ``entries``, ``total_entries``, ``waiting``,
``at``, ``retries``, plus counters such as ``entries.received``); any key may be absent. Rate
and ETA come from the worker's own timestamps (``started_at``, ``at``), so they hold however
often this process looks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from infra.app import App
from producers.services.syncs import FINAL_STATUSES

POLL_S = 0.25
PLAIN_EVERY_S = 3.0  # how often a plain line is printed when stdout is not a terminal
WATCH_REFRESH_S = 1.0


@dataclass(frozen=True)
class RunProgress:
    """One look at a run, in the terms a person reads."""

    kind: str
    status: str
    entries: int | None = None
    total_entries: int | None = None
    pages: int | None = None
    retries: int = 0
    waiting: str | None = None
    rate: float | None = None  # entries per second since the run started
    eta_s: float | None = None

    @classmethod
    def of(cls, run: dict[str, Any], now: datetime | None = None) -> RunProgress:
        p = run.get("progress") or {}
        entries = _int(p.get("entries", p.get("entries.received")))
        total = _int(p.get("total_entries"))
        rate = eta = None
        started, at = run.get("started_at"), _time(p.get("at")) or now or datetime.now(UTC)
        if entries and started is not None and (elapsed := (at - started).total_seconds()) > 0:
            rate = entries / elapsed
            if total is not None and total >= entries:
                eta = (total - entries) / rate
        return cls(
            kind=run["kind"],
            status=run["status"],
            entries=entries,
            total_entries=total,
            pages=_int(p.get("pages")),
            retries=_int(p.get("retries")) or 0,
            waiting=p.get("waiting") or None,
            rate=rate,
            eta_s=eta,
        )

    def detail(self) -> str:
        """'500/1,000 entries (50%), 3 pages, 50 entries/s, ETA 10 s, 1 retry, waiting for ...'"""
        parts = []
        if self.entries is not None:
            if self.total_entries:
                share = min(100, 100 * self.entries // self.total_entries)
                parts.append(f"{self.entries:,}/{self.total_entries:,} entries ({share}%)")
            else:
                parts.append(f"{self.entries:,} entries")
        if self.pages is not None:
            parts.append(f"{self.pages} page{'s' if self.pages != 1 else ''}")
        if self.rate is not None:
            parts.append(f"{self.rate:,.0f} entries/s")
        if self.eta_s is not None and self.status == "running":
            parts.append(f"ETA {_duration(self.eta_s)}")
        if self.retries:
            parts.append(f"{self.retries} retr{'ies' if self.retries != 1 else 'y'}")
        if self.waiting:
            parts.append(f"waiting for Harvest: {self.waiting}")
        return ", ".join(parts) or "no progress reported yet"

    def line(self) -> str:
        return f"{self.kind} {self.status}: {self.detail()}"


def follow_run(app: App, account_id: int, message_id: str, timeout_s: float) -> dict:
    """Poll the run until it is final, showing its progress; the final run row."""
    show = _live_bar(_terminal()) if _on_terminal() else _plain_lines(PLAIN_EVERY_S)
    deadline = time.monotonic() + timeout_s
    with show as update:
        while True:
            with app.uow() as u:
                run = u.runs.get(account_id, message_id)
            if run is not None:
                update(RunProgress.of(run))
                if run["status"] in FINAL_STATUSES:
                    return run
            if time.monotonic() > deadline:
                status = run["status"] if run else "unknown"
                raise click.ClickException(f"run still {status} after {timeout_s:.0f}s; is a worker running?")
            time.sleep(POLL_S)


@contextmanager
def _live_bar(console: Console) -> Iterator[Callable[[RunProgress], None]]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=30),
        TextColumn("{task.fields[detail]}"),
        console=console,
        refresh_per_second=4,
    )
    task: TaskID | None = None

    def update(p: RunProgress) -> None:
        nonlocal task
        total = p.total_entries if p.total_entries else None  # None: a pulsing bar
        detail = p.detail() if p.status == "running" else f"{p.status}; {p.detail()}"
        if task is None:
            task = bar.add_task(p.kind, total=total, detail=detail)
        if p.status == "succeeded":  # done, whatever Harvest's count said at the start
            total = total or 1
            bar.update(task, completed=total, total=total, detail=detail)
        else:
            bar.update(task, completed=p.entries or 0, total=total, detail=detail)

    with bar:
        yield update


@contextmanager
def _plain_lines(every_s: float) -> Iterator[Callable[[RunProgress], None]]:
    last = time.monotonic()

    def update(p: RunProgress) -> None:
        nonlocal last
        if p.status not in FINAL_STATUSES and time.monotonic() - last >= every_s:
            click.echo(p.line())
            last = time.monotonic()

    yield update


def watch(view: Callable[[], tuple[list[str], bool]]) -> None:
    """Show ``view()``'s lines, refreshed, until it says no run is active; then once more.

    ``view`` returns (lines, whether a run is still queued, running or retrying).
    """
    lines, active = view()
    if _on_terminal():
        with Live(Text("\n".join(lines)), console=_terminal(), auto_refresh=False) as live:
            while active:
                time.sleep(WATCH_REFRESH_S)
                lines, active = view()
                live.update(Text("\n".join(lines)), refresh=True)
        return
    click.echo("\n".join(lines))
    while active:
        time.sleep(PLAIN_EVERY_S)
        lines, active = view()
        click.echo("")
        click.echo("\n".join(lines))


def _on_terminal() -> bool:
    """stdout itself, not FORCE_COLOR and the like: a pipe or a file gets plain lines."""
    try:
        return sys.stdout.isatty()
    except ValueError:  # closed
        return False


def _terminal() -> Console:
    return Console(highlight=False, force_terminal=True)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
