"""`harvest-sync admin`: publish commands and manage accounts by hand.

Every bad input exits non-zero with a one-line reason. Tokens come from HARVEST_TOKEN or a
hidden prompt, never from argv, where `ps` and shell history would show them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime

import click

from domain.autofill import last_finished_week, parse_week, week_label
from domain.commands import AutofillWeek, Command, SyncActuals, SyncEntities
from infra.bootstrap import App, bootstrap
from infra.db.accounts import AccountRecord
from infra.db.entities import AlreadyLinked
from infra.preflight import require_broker
from producers.progress import FINAL_STATUSES, follow_run

WHAT_KINDS = {
    "clients-projects": ("clients_projects",),
    "people": ("people",),
    "actuals": ("actuals",),
    "autofill": ("autofill",),
    "all": ("clients_projects", "people", "actuals"),
}


def _app() -> App:
    from infra.logging import configure_logging

    app = bootstrap()
    configure_logging(app.settings.log_level, app.settings.log_format)
    return app


def _account(app: App, key: str) -> AccountRecord:
    with app.uow() as u:
        account = u.accounts.find(key)
    if account is None:
        raise click.ClickException(f"unknown account {key!r}")
    return account


def _read_token() -> str:
    token = os.environ.get("HARVEST_TOKEN")
    if token:
        return token.strip()
    if not sys.stdin.isatty():
        raise click.ClickException(
            "set HARVEST_TOKEN (the Harvest personal access token); it is never read from argv"
        )
    return click.prompt("Harvest personal access token", hide_input=True).strip()


@click.group()
def admin() -> None:
    """Manage accounts and publish sync commands by hand."""


@admin.command("generate-key")
def generate_key() -> None:
    """Print a new key for HARVEST_SYNC_SECRET_KEY."""
    from infra.crypto import generate_key as new_key

    click.echo(new_key())


@admin.command("rotate-key")
def rotate_key() -> None:
    """Re-seal every stored token under the first key of HARVEST_SYNC_SECRET_KEY.

    Rotation: put the new key first (new,old), run this, then drop the old key.
    """
    app = _app()
    with app.uow() as u:
        sealed = u.accounts.sealed_tokens()
        for account_id, token in sealed:
            u.accounts.set_sealed_token(account_id, app.cipher.reseal(token))
        u.commit()
    click.echo(f"{len(sealed)} token(s) re-sealed under the newest key")


@admin.group()
def account() -> None:
    """Add and list accounts (tenants)."""


@account.command("add")
@click.option("--name", required=True, help="A unique name for the account.")
@click.option("--harvest-account-id", required=True, type=click.IntRange(min=1), help="Harvest's account id.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of the account's week.")
def account_add(name: str, harvest_account_id: int, timezone: str) -> None:
    """Register an account; the token comes from HARVEST_TOKEN or a hidden prompt."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {timezone!r}", param_hint="--timezone") from None
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="--name")
    app = _app()
    sealed = app.cipher.seal(_read_token())
    with app.uow() as u:
        if u.accounts.find(name) is not None:
            raise click.ClickException(f"an account named {name!r} already exists")
        account_id = u.accounts.add(
            name=name.strip(), harvest_account_id=harvest_account_id, token_sealed=sealed, timezone=timezone
        )
        u.commit()
    click.echo(account_id)


@account.command("set-token")
@click.argument("account_key", metavar="ACCOUNT")
def account_set_token(account_key: str) -> None:
    """Replace the account's token (from HARVEST_TOKEN or a prompt) and clear 'needs attention'."""
    app = _app()
    acct = _account(app, account_key)
    sealed = app.cipher.seal(_read_token())
    with app.uow() as u:
        u.accounts.set_token(acct.id, sealed)
        u.commit()
    click.echo(f"token replaced for account {acct.id}; status active")


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--what", type=click.Choice(list(WHAT_KINDS)), default="all", show_default=True)
@click.option("--full", is_flag=True, help="Actuals: look for deletions in all history, not a window.")
@click.option("--week", help="Autofill: the ISO week, e.g. 2026-W47 (default: the last finished one).")
@click.option("--wait", is_flag=True, help="Follow each run to its end and print its counts.")
@click.option(
    "--timeout", type=click.IntRange(min=1), default=600, show_default=True, help="Seconds to wait."
)
def sync(account_key: str, what: str, full: bool, week: str | None, wait: bool, timeout: int) -> None:
    """Publish sync commands for ACCOUNT (id or name). With `all`, entities go first."""
    if week is not None:
        if what != "autofill":
            raise click.UsageError("--week goes with --what autofill")
        try:
            parse_week(week)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--week") from None
    app = _app()
    acct = _account(app, account_key)
    require_broker(app.settings.amqp_url)  # before a run is recorded as queued that never goes out
    kinds = WHAT_KINDS[what]
    commands: list[Command] = []
    entity_kinds = tuple(k for k in kinds if k in ("clients_projects", "people"))
    if entity_kinds:
        commands.append(SyncEntities(account_id=acct.id, kinds=entity_kinds, requested_at=_now_id()))
    if "actuals" in kinds:
        commands.append(SyncActuals(account_id=acct.id, requested_at=_now_id(), full_reconcile=full))
    if "autofill" in kinds:
        week = week or week_label(last_finished_week(datetime.now(UTC), acct.timezone))
        commands.append(AutofillWeek(account_id=acct.id, week=week, requested_at=_now_id()))
    for cmd in commands:
        publish_tracked(app, cmd)
        click.echo(f"published {cmd.message_id}")
        if wait:
            # Waiting before the next command lets actuals find the people just imported.
            run = follow_run(app, acct.id, cmd.message_id, timeout)  # a live bar, or plain lines
            click.echo(f"run {run['status']}: {json.dumps(run['counts'], sort_keys=True)}")
            if run["status"] == "failed":
                # What follows depends on this run (actuals need the people): stop here.
                raise click.ClickException(f"run failed: {run['kind']}: {run.get('error') or 'no detail'}")


def _now_id() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def run_kind(cmd: Command) -> str:
    if isinstance(cmd, SyncActuals):
        return "actuals"
    if isinstance(cmd, AutofillWeek):
        return "autofill"
    return "+".join(cmd.kinds)


def publish_tracked(app: App, cmd: Command) -> None:
    """Record the run as queued, then publish: `--wait` and `admin status` can follow it."""
    with app.uow() as u:
        u.runs.upsert(
            account_id=cmd.account_id,
            kind=run_kind(cmd),
            message_id=cmd.message_id,
            status="queued",
            requested_at=datetime.now(UTC),
        )
        u.commit()
    app.publish(cmd)


def wait_for_run(app: App, account_id: int, message_id: str, timeout_s: float) -> dict:
    """Poll the run until it is final or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        with app.uow() as u:
            run = u.runs.get(account_id, message_id)
        if run and run["status"] in FINAL_STATUSES:
            return run
        if time.monotonic() > deadline:
            status = run["status"] if run else "unknown"
            raise click.ClickException(f"run still {status} after {timeout_s:.0f}s; is a worker running?")
        time.sleep(0.25)


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--client", "client_id", type=click.IntRange(min=1), help="Our client id.")
@click.option("--project", "project_id", type=click.IntRange(min=1), help="Our project id.")
@click.option("--person", "person_id", type=click.IntRange(min=1), help="Our person id.")
@click.option("--harvest-id", required=True, type=click.IntRange(min=1), help="The Harvest id to attach.")
def link(
    account_key: str, client_id: int | None, project_id: int | None, person_id: int | None, harvest_id: int
) -> None:
    """Attach a Harvest id to an existing client, project or person, so no duplicate is imported."""
    chosen = [(t, i) for t, i in (("client", client_id), ("project", project_id), ("person", person_id)) if i]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --client, --project or --person")
    entity_type, entity_id = chosen[0]
    app = _app()
    acct = _account(app, account_key)
    with app.uow() as u:
        try:
            u.entities.link(acct.id, entity_type, entity_id, harvest_id)
        except (LookupError, AlreadyLinked) as exc:
            raise click.ClickException(str(exc)) from None
        u.commit()
    click.echo(f"{entity_type} {entity_id} linked to Harvest id {harvest_id}")


def _ts(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "never"
