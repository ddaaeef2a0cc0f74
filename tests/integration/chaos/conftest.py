"""Prints the chaos scenarios' figures as a table at the end of the run."""

from __future__ import annotations

from tests.integration.chaos.scenario import OUTCOMES


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if not OUTCOMES:
        return
    write = terminalreporter.write_line
    write("")
    head = f"{'scenario':<30} {'entries':>9} {'lost':>6} {'doubled':>8} {'wrong':>6} {'seconds':>8}"
    write(f"{head} {'requests':>9}  notes")
    for o in OUTCOMES:
        row = f"{o.scenario:<30} {o.entries:>9} {o.lost:>6} {o.doubled:>8} {o.wrong:>6} {o.seconds:>8}"
        write(f"{row} {o.requests:>9}  {o.notes}")
