"""`harvest-sync admin user add NAME --role admin|viewer`: who may sign in to the console.

The password comes from HARVEST_SYNC_PASSWORD or a hidden prompt (asked twice), never from
argv; only its argon2 hash is stored.
"""

from __future__ import annotations

import os
import sys

import click

from domain.signin import USER_ROLES
from producers.admin import _app, admin
from producers.cli_errors import refused
from producers.services.users import add_user, check_new_user, list_users

USER_OPTIONS = {"name": "NAME", "role": "--role"}


@admin.group()
def user() -> None:
    """Console users: who may sign in to `harvest-sync console`."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(USER_ROLES), required=True, help="admin changes; viewer only sees.")
def user_add(name: str, role: str) -> None:
    """Add a console user; the password comes from HARVEST_SYNC_PASSWORD or a hidden prompt."""
    with refused(USER_OPTIONS):
        check_new_user(name, role)
    app = _app()
    password = _read_password()
    with refused(USER_OPTIONS):
        add_user(app, name, role, password)
    click.echo(f"user {name!r} added as {role}")


@user.command("list")
def user_list() -> None:
    """Every console user and their role."""
    for u in list_users(_app()):
        click.echo(f"{u.name}  {u.role}")


def _read_password() -> str:
    password = os.environ.get("HARVEST_SYNC_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise click.ClickException(
            "set HARVEST_SYNC_PASSWORD (the new user's password); it is never read from argv"
        )
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)
