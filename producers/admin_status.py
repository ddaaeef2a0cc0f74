"""`harvest-sync admin status ACCOUNT`: per kind, the last successful sync (the seed's "last
sync date"), the next scheduled one, the current run's progress and the last error."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from domain.accounts import AccountRecord
from infra.db.uow import UnitOfWork
from producers.admin import _account, _app, _ts, account, admin
from producers.progress import RunProgress, watch
from producers.services.status import account_status

CURRENT_RUN = "    current run: "


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--watch", "watching", is_flag=True, help="Refresh the view until the account's runs finish.")
def status(account_key: str, watching: bool) -> None:
    """Show an account's sync state."""
    app = _app()
    acct = _account(app, account_key)

    def view() -> tuple[list[str], bool]:
        with app.uow() as u:
            lines = describe(u, acct, datetime.now(UTC))
        return lines, any(line.startswith(CURRENT_RUN) for line in lines)

    if watching:
        watch(view)
    else:
        click.echo("\n".join(view()[0]))


@account.command("list")
def account_list() -> None:
    """Every account with, per kind, its last and next sync, current run and last error."""
    app = _app()
    now = datetime.now(UTC)
    with app.uow() as u:
        for acct in u.accounts.all():
            for line in describe(u, acct, now):
                click.echo(line)


def describe(u: UnitOfWork, acct: AccountRecord, now: datetime) -> list[str]:
    reason = f" ({acct.status_reason})" if acct.status_reason else ""
    lines = [f"account {acct.id} {acct.name!r} (Harvest {acct.harvest_account_id}): {acct.status}{reason}"]
    for k in account_status(u, acct, now).kinds:
        lines.append(
            f"  {k.kind:<17} {'on ' if k.on else 'off'}  last success {_ts(k.last_success_at)}"
            f"  next {_ts(k.next_at) if k.next_at else '-'}"
        )
        if k.run:
            lines.append(f"{CURRENT_RUN}{RunProgress.of(k.run).line()}")
        if k.last_error:
            lines.append(f"    last error ({_ts(k.last_error_at)}): {k.last_error}")
    lines.extend(_verification(u, acct))
    return lines


def _verification(u: UnitOfWork, acct: AccountRecord) -> list[str]:
    """The last check of our totals against Harvest's reports, if any."""
    latest = u.verifications.latest(acct.id)
    if latest is None:
        return []
    found = latest["differences"]
    verdict = "matches Harvest" if not found else f"{found} difference(s) (see: admin verify {acct.id})"
    span = f"{latest['range_from']} .. {latest['range_to']}"
    return [f"  {'verify':<17}      last checked {_ts(latest['checked_at'])} ({span}): {verdict}"]
