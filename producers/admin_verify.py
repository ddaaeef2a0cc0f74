"""`harvest-sync admin verify ACCOUNT`: Harvest's own time reports against our stored entries.

Prints every project and person whose hours differ (to Harvest's 0.01 h), or that none do;
exits 1 on a difference. The result is kept, so `admin status` and the metrics show it too.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from domain.errors import AccountNeedsAttention, TransientError
from domain.verify import Compared, compare, default_range
from producers.admin import _account, _app, admin


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First spent date (default: all).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last spent date (default: today).")
def verify(account_key: str, start: datetime | None, end: datetime | None) -> None:
    """Compare our hours per project and per person with Harvest's time reports."""
    if start and end and end < start:
        raise click.BadParameter("must not be before --from", param_hint="--to")
    app = _app()
    acct = _account(app, account_key)
    now = datetime.now(UTC)
    harvest = app.harvest_for(acct, interactive=True)  # a person waits at the terminal
    try:
        with app.uow() as u:
            held = u.verifications.held_range(acct.id)
            first, last = default_range(acct.actuals_start_date, held, now.date())
            first, last = start.date() if start else first, end.date() if end else last
            compared = compare(harvest, u.verifications.our_hours(acct.id), first, last)
            u.verifications.record(
                acct.id, checked_at=now, start=first, end=last, compared=compared, source="admin"
            )
            u.commit()
    except (AccountNeedsAttention, TransientError) as exc:
        raise click.ClickException(f"could not read Harvest's reports: {exc}") from None
    finally:
        harvest.close()
    differing = [c for c in compared if c.differs]
    click.echo(f"account {acct.id} {acct.name!r}, spent dates {first} .. {last}, against Harvest's reports")
    for c in differing:
        click.echo(_line(c))
    if differing:
        click.echo(f"{len(differing)} difference(s)")
        sys.exit(1)
    projects = sum(c.subject == "project" for c in compared)
    people = len(compared) - projects
    click.echo(f"no differences: {projects} project(s) and {people} person(s) match Harvest to 0.01 h")


def _line(c: Compared) -> str:
    delta = c.our_hours - c.harvest_hours
    return (
        f"{c.subject} {c.harvest_id} {_printable(c.name)}: Harvest {c.harvest_hours:.2f} h,"
        f" ours {c.our_hours:.2f} h ({delta:+.2f})"
    )


def _printable(name: str | None) -> str:
    """Harvest's names are untrusted text: no control characters reach the terminal."""
    return repr("".join(ch for ch in (name or "") if ch.isprintable()))
