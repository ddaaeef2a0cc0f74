"""`harvest-sync admin export`: clients, projects, people (with Harvest ids) and actuals.

Format version 1, documented in README ("Export format"); later versions keep these fields.
JSON goes to one file (or stdout); CSV writes clients.csv, projects.csv, people.csv and
actuals.csv into a directory.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from infra.db import export as q
from producers.admin import _account, _app, admin

CSV_COLUMNS = {
    "clients": ["id", "name", "archived", "harvest_ids"],
    "projects": ["id", "name", "client_id", "project_type", "budget", "tags", "archived", "harvest_ids"],
    "people": ["id", "first_name", "last_name", "email", "role", "cost", "archived", "harvest_ids"],
    "actuals": [
        "person_id",
        "project_id",
        "role",
        "date",
        "billable_minutes",
        "nonbillable_minutes",
        "autofilled",
    ],
}


@admin.command()
@click.argument("account_key", metavar="ACCOUNT")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="Actuals from this day.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Actuals up to this day.")
@click.option(
    "--output", type=click.Path(path_type=Path), help="JSON: a file (default stdout). CSV: a directory."
)
def export(
    account_key: str, fmt: str, start: datetime | None, end: datetime | None, output: Path | None
) -> None:
    """Write the account's imported data."""
    if start and end and end < start:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    app = _app()
    acct = _account(app, account_key)
    start_day, end_day = (start.date() if start else None), (end.date() if end else None)
    with app.engine.connect() as conn, conn.begin():
        sections = {
            "clients": q.clients(conn, acct.id),
            "projects": q.projects(conn, acct.id),
            "people": q.people(conn, acct.id),
        }
        actuals = q.actuals(conn, acct.id, start_day, end_day)
        if fmt == "json":
            header = {"format": "harvest-sync-export", "version": q.EXPORT_VERSION, "account": acct.name}
            if output:
                with output.open("w") as fh:
                    _write_json(fh, header, sections, actuals)
            else:
                _write_json(sys.stdout, header, sections, actuals)
        else:
            directory = output or Path(f"export-{acct.name}")
            directory.mkdir(parents=True, exist_ok=True)
            for name, rows in [*sections.items(), ("actuals", actuals)]:
                with (directory / f"{name}.csv").open("w", newline="") as fh:
                    _write_csv(fh, CSV_COLUMNS[name], rows)
            click.echo(f"wrote {', '.join(f'{n}.csv' for n in CSV_COLUMNS)} to {directory}", err=True)


def _write_json(fh: IO[str], header: dict, sections: dict, actuals) -> None:  # type: ignore[no-untyped-def]
    """Streams the actuals array instead of building it in memory."""
    fh.write(json.dumps(header)[:-1])
    for name, rows in sections.items():
        fh.write(f', "{name}": {json.dumps(rows, default=str)}')
    fh.write(', "actuals": [')
    for i, row in enumerate(actuals):
        fh.write(("," if i else "") + "\n" + json.dumps(row))
    fh.write("\n]}\n")


def _write_csv(fh: IO[str], columns: list[str], rows) -> None:  # type: ignore[no-untyped-def]
    writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()})
