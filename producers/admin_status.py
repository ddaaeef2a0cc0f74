"""`harvest-sync admin status ACCOUNT`: per kind, the last successful sync (the seed's "last
sync date"), the next scheduled one, the current run's progress and the last error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from domain.schedule import AccountSchedule, next_slot
from producers.admin import _account, _app, _ts, admin

KINDS = {
    "clients_projects": "entities",
    "people": "entities",
    "actuals": "actuals",
    "autofill": "autofill",
}


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
def status(account_key: str) -> None:
    """Show an account's sync state."""
    app = _app()
    acct = _account(app, account_key)
    now = datetime.now(UTC)
    schedule = AccountSchedule(
        acct.id,
        acct.timezone,
        acct.import_clients_projects,
        acct.import_people,
        acct.import_actuals,
        acct.autofill,
    )
    with app.uow() as u:
        state = u.accounts.sync_state(acct.id)
        runs = {kind: u.runs.latest_for(acct.id, kind) for kind in KINDS}
    click.echo(
        f"account {acct.id} {acct.name!r}: {acct.status}"
        + (f" ({acct.status_reason})" if acct.status_reason else "")
    )
    for kind, slot_kind in KINDS.items():
        s = state.get(kind, {})
        on = acct.imports(kind)
        nxt = next_slot(schedule, slot_kind, now) if on and acct.status == "active" else None
        click.echo(
            f"  {kind:<17} {'on ' if on else 'off'}  last success {_ts(s.get('last_success_at'))}"
            f"  next {_ts(nxt) if nxt else '-'}"
        )
        run = runs[kind]
        if run and run["status"] in ("queued", "running", "retrying"):
            click.echo(f"    current run: {run['status']} {json.dumps(run['progress'], sort_keys=True)}")
        if s.get("last_error"):
            click.echo(f"    last error ({_ts(s.get('last_error_at'))}): {s['last_error']}")
