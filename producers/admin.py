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

from domain.accounts import AccountRecord
from domain.autofill import parse_week
from infra.app import App, build_app
from infra.preflight import require_broker
from producers.cli_errors import refused
from producers.progress import follow_run
from producers.services.accounts import add_account, check_new_account, find_account, replace_token
from producers.services.accounts import rotate_key as reseal_tokens
from producers.services.planning import link_harvest_id
from producers.services.syncs import FINAL_STATUSES, WHAT_KINDS, publish_tracked, sync_commands

NEW_ACCOUNT_OPTIONS = {"name": "--name", "timezone": "--timezone"}


def _app() -> App:
    from infra.logging import configure_logging

    app = build_app()
    configure_logging(app.settings.log_level, app.settings.log_format)
    return app


def _account(app: App, key: str) -> AccountRecord:
    with refused():
        return find_account(app, key)


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
    count = reseal_tokens(_app())
    click.echo(f"{count} token(s) re-sealed under the newest key")


@admin.group()
def account() -> None:
    """Add and list accounts (tenants)."""


@account.command("add")
@click.option("--name", required=True, help="A unique name for the account.")
@click.option("--harvest-account-id", required=True, type=click.IntRange(min=1), help="Harvest's account id.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of the account's week.")
def account_add(name: str, harvest_account_id: int, timezone: str) -> None:
    """Register an account; the token comes from HARVEST_TOKEN or a hidden prompt."""
    with refused(NEW_ACCOUNT_OPTIONS):
        check_new_account(name, timezone)
    app = _app()
    token = _read_token()
    with refused(NEW_ACCOUNT_OPTIONS):
        account_id = add_account(
            app, name=name, harvest_account_id=harvest_account_id, token=token, timezone=timezone
        )
    click.echo(account_id)


@account.command("set-token")
@click.argument("account_key", metavar="ACCOUNT")
def account_set_token(account_key: str) -> None:
    """Replace the account's token (from HARVEST_TOKEN or a prompt) and clear 'needs attention'."""
    app = _app()
    acct = _account(app, account_key)
    token = _read_token()
    with refused():
        replace_token(app, acct, token)
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
    commands = sync_commands(acct, what, full=full, week=week)
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
    with refused():
        link_harvest_id(app, acct.id, entity_type, entity_id, harvest_id)
    click.echo(f"{entity_type} {entity_id} linked to Harvest id {harvest_id}")


def _ts(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "never"
