"""`harvest-sync admin account set` and `admin timeoff`: account settings and time off."""

from __future__ import annotations

from datetime import datetime

import click

from domain.accounts import KIND_FLAGS
from infra.db.autofill import AutofillRepository
from producers.admin import _account, _app, account, admin
from producers.cli_errors import refused
from producers.services.accounts import settings_values, update_settings

ON_OFF = click.Choice(["on", "off"])
SETTING_OPTIONS = {"timezone": "--timezone", "working_days": "--working-days"}


@account.command("set")
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--autofill", type=ON_OFF, help="Autofill actuals at the end of each week.")
@click.option("--clients-projects", "clients_projects", type=ON_OFF, help="Import clients and projects.")
@click.option("--people", type=ON_OFF, help="Import people.")
@click.option("--actuals", type=ON_OFF, help="Import actuals.")
@click.option("--timezone", help="IANA time zone in which the account's weeks end.")
@click.option("--working-days", help="Autofill days, e.g. mon,tue,wed,thu,fri.")
# Retired (migration 0008): every sync now checks all history. Kept so that a script still
# passing it is told why, instead of "no such option".
@click.option("--reconcile-window-days", type=int, hidden=True)
@click.option(
    "--full-reconcile-days", type=click.IntRange(1, 365), help="Days between searches of all history."
)
@click.option("--start-date", type=click.DateTime(["%Y-%m-%d"]), help="Import actuals from this day on.")
def account_set(account_key: str, **options: object) -> None:
    """Change an account's settings; prints them afterwards."""
    if options.pop("reconcile_window_days") is not None:
        raise click.UsageError(
            "--reconcile-window-days is retired: every sync now looks for deletions in all history"
        )
    flags = {kind: options[kind] == "on" for kind in KIND_FLAGS if options[kind] is not None}
    start = options["start_date"]
    with refused(SETTING_OPTIONS):
        values = settings_values(
            flags=flags,
            timezone=str(options["timezone"]) if options["timezone"] else None,
            working_days=str(options["working_days"]) if options["working_days"] else None,
            full_reconcile_days=options["full_reconcile_days"],  # type: ignore[arg-type]
            start_date=start.date() if isinstance(start, datetime) else None,
        )
    if not values:
        raise click.UsageError("nothing to change: give at least one option")
    app = _app()
    acct = _account(app, account_key)
    updated = update_settings(app, acct.id, values)
    click.echo(
        f"account {updated.id}: autofill={'on' if updated.autofill else 'off'} "
        f"actuals={'on' if updated.import_actuals else 'off'} timezone={updated.timezone} "
        f"working_days={','.join(map(str, updated.working_days))}"
    )


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--person", "person_id", type=click.IntRange(min=1), help="Add time off for this person...")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="...from this day...")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="...to this day (inclusive).")
@click.option("--list", "list_", is_flag=True, help="List the account's time off.")
@click.option("--remove", "remove_id", type=click.IntRange(min=1), help="Remove the time off with this id.")
def timeoff(
    account_key: str,
    person_id: int | None,
    start: datetime | None,
    end: datetime | None,
    list_: bool,
    remove_id: int | None,
) -> None:
    """Time off: days autofill leaves alone. Add (--person --from --to), --list or --remove ID."""
    adding = person_id is not None or start is not None or end is not None
    if sum([adding, list_, remove_id is not None]) != 1:
        raise click.UsageError("either --person with --from and --to, or --list, or --remove ID")
    if adding and not (person_id and start and end):
        raise click.UsageError("adding time off needs --person, --from and --to")
    app = _app()
    acct = _account(app, account_key)
    with app.uow() as u:
        repo = AutofillRepository(u.conn, acct.id)
        try:
            if list_:
                for row in repo.list_time_off():
                    span = f"{row['start_date']} .. {row['end_date']}"
                    click.echo(f"{row['id']:>6}  person {row['person_id']:>6}  {span}")
                return
            if remove_id is not None:
                repo.remove_time_off(remove_id)
                click.echo(f"time off {remove_id} removed")
            else:
                assert person_id and start and end
                click.echo(repo.add_time_off(person_id, start.date(), end.date()))
        except (LookupError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        u.commit()
