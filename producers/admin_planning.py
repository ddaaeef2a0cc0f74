"""`harvest-sync admin` commands for what the planner owns: assignments, roles, tags, the
import ledger. Changes that move time between roles take effect at the next actuals sync."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import click

from infra.db.planning import PlanningRepository
from producers.admin import _account, _app, admin
from producers.cli_errors import refused
from producers.services import planning

T = TypeVar("T")


def _run(account_key: str, action: Callable[[PlanningRepository], T]) -> T:
    """Run `action(repo)` in one transaction; a LookupError or ValueError is a one-line failure."""
    app = _app()
    acct = _account(app, account_key)
    with refused():
        return planning.in_account(app, acct.id, action)


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--person", "person_id", required=True, type=click.IntRange(min=1))
@click.option("--project", "project_id", required=True, type=click.IntRange(min=1))
@click.option(
    "--role", required=True, help="Role name; matched case- and space-insensitively, created if new."
)
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--minutes-per-day", required=True, type=click.IntRange(0, 24 * 60))
def assign(
    account_key: str,
    person_id: int,
    project_id: int,
    role: str,
    start: datetime,
    end: datetime,
    minutes_per_day: int,
) -> None:
    """Plan PERSON on PROJECT in ROLE from --from to --to; prints the assignment id."""
    new_id = _run(
        account_key,
        lambda repo: repo.assign(
            person_id=person_id,
            project_id=project_id,
            role=role,
            start=start.date(),
            end=end.date(),
            minutes_per_day=minutes_per_day,
        ),
    )
    click.echo(new_id)


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--person", "person_id", type=click.IntRange(min=1), help="Only this person's.")
def assignments(account_key: str, person_id: int | None) -> None:
    """List assignments."""
    rows = _run(account_key, lambda repo: repo.assignments(person_id))
    click.echo(f"{'id':>6} {'person':>7} {'project':>8}  {'from':<10} {'to':<10} {'min/day':>7}  role")
    for a in rows:
        click.echo(
            f"{a['id']:>6} {a['person_id']:>7} {a['project_id']:>8}  {a['start_date']!s:<10} "
            f"{a['end_date']!s:<10} {a['minutes_per_day']:>7}  {a['role']}"
        )


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.argument("assignment_id", type=click.IntRange(min=1))
def unassign(account_key: str, assignment_id: int) -> None:
    """Remove an assignment."""
    _run(account_key, lambda repo: repo.unassign(assignment_id))
    click.echo(f"assignment {assignment_id} removed")


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.argument("person_id", type=click.IntRange(min=1))
@click.option("--role", required=True, help="The person's role (replaces Unknown, for instance).")
def person(account_key: str, person_id: int, role: str) -> None:
    """Set a person's role."""
    app = _app()
    acct = _account(app, account_key)
    with refused():
        planning.set_person_role(app, acct.id, person_id, role)
    click.echo(f"person {person_id} now has role {role!r}")


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--project", "project_id", required=True, type=click.IntRange(min=1))
@click.option("--add", "add_tag", help="Tag to add, e.g. sync_off (ignore the project's new time).")
@click.option("--remove", "remove_tag", help="Tag to remove.")
def tag(account_key: str, project_id: int, add_tag: str | None, remove_tag: str | None) -> None:
    """Add or remove a project tag."""
    if bool(add_tag) == bool(remove_tag):
        raise click.UsageError("give exactly one of --add or --remove")
    app = _app()
    acct = _account(app, account_key)
    with refused():
        tags = planning.tag_project(app, acct.id, project_id, add=add_tag, remove=remove_tag)
    click.echo(f"project {project_id} tags: {', '.join(tags) or '(none)'}")


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
def ledger(account_key: str) -> None:
    """What was not imported, and why; the next sync after the cause is fixed imports it."""
    app = _app()
    acct = _account(app, account_key)
    with refused():
        rows = planning.ledger(app, acct.id)
    click.echo(f"{len(rows)} record(s) held")
    for r in rows:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(r["detail"].items()))
        click.echo(f"{r['record_type']:<11} {r['harvest_id']:>12}  {r['reason']:<22} {detail}")
