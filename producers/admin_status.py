"""`harvest-sync admin status ACCOUNT`: per kind, the last successful sync (the seed's "last
sync date"), the next scheduled one, the current run's progress and the last error."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from domain.schedule import AccountSchedule, next_slot
from infra.db.accounts import AccountRecord
from infra.db.uow import UnitOfWork
from producers.admin import _account, _app, _ts, account, admin
from producers.progress import ACTIVE_STATUSES, RunProgress, watch

CURRENT_RUN = "    current run: "
KINDS = {
    "clients_projects": "entities",
    "people": "entities",
    "actuals": "actuals",
    "autofill": "autofill",
}


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
    schedule = AccountSchedule(
        acct.id,
        acct.timezone,
        acct.import_clients_projects,
        acct.import_people,
        acct.import_actuals,
        acct.autofill,
    )
    state = u.accounts.sync_state(acct.id)
    reason = f" ({acct.status_reason})" if acct.status_reason else ""
    lines = [f"account {acct.id} {acct.name!r} (Harvest {acct.harvest_account_id}): {acct.status}{reason}"]
    for kind, slot_kind in KINDS.items():
        s = state.get(kind, {})
        on = acct.imports(kind)
        nxt = next_slot(schedule, slot_kind, now) if on and acct.status == "active" else None
        lines.append(
            f"  {kind:<17} {'on ' if on else 'off'}  last success {_ts(s.get('last_success_at'))}"
            f"  next {_ts(nxt) if nxt else '-'}"
        )
        run = u.runs.latest_for(acct.id, kind)
        if run and run["status"] in ACTIVE_STATUSES:
            lines.append(f"{CURRENT_RUN}{RunProgress.of(run).line()}")
        if s.get("last_error"):
            lines.append(f"    last error ({_ts(s.get('last_error_at'))}): {s['last_error']}")
    return lines
