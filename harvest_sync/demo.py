"""`harvest-sync demo`: the whole path on a sample agency, in one command.

Migrate, start the simulator, register a demo account, publish the syncs, consume them, and
show what was imported. Running it again imports nothing twice.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from datetime import UTC, datetime

import click
import sqlalchemy as sa

from infra.config import Settings, load_settings

DEMO_ACCOUNT = "demo"
DEMO_HARVEST_ACCOUNT_ID = 1_000_001


@click.command()
@click.option("--people", default=25, show_default=True, type=click.IntRange(1, 5000))
@click.option("--projects", default=12, show_default=True, type=click.IntRange(1, 10000))
@click.option("--clients", default=5, show_default=True, type=click.IntRange(1, 1000))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@click.option("--seed", default=1, show_default=True, type=int)
def demo(people: int, projects: int, clients: int, days: int, seed: int) -> None:
    """Run the main job end to end against a simulated Harvest agency."""
    from harvest_sync.services import services
    from infra.crypto import generate_key
    from infra.logging import configure_logging

    settings = load_settings(require_secret=False)
    configure_logging("warning", settings.log_format)
    if not settings.secret_keys:
        click.echo("HARVEST_SYNC_SECRET_KEY is not set: this demo seals its token with a throw-away key")
        settings = dataclasses.replace(settings, secret_keys=(generate_key(),))
    # A missing service raises infra.preflight's exceptions: the CLI shows them as one line.
    with services(settings.database_url, settings.amqp_url) as (database_url, amqp_url):
        settings = dataclasses.replace(settings, database_url=database_url, amqp_url=amqp_url)
        _run_demo(settings, dict(people=people, projects=projects, clients=clients, days=days, seed=seed))


def _run_demo(settings: Settings, agency: dict) -> None:
    from domain.commands import SyncActuals, SyncEntities
    from harvest_sync.bootstrap import bootstrap
    from harvest_sync.services import ensure_database
    from harvest_sync.worker import build_runtime
    from infra.db.engine import make_engine
    from infra.db.migrate import upgrade
    from producers.admin import publish_tracked, wait_for_run
    from simulator.server import SimulatorServer

    ensure_database(settings.database_url)
    engine = make_engine(settings.database_url, prepared_statements=settings.database_prepared_statements)
    upgrade(engine)
    click.echo("1. database migrated")
    token = secrets.token_urlsafe(24)
    with SimulatorServer(port=0) as sim:
        sim.add_account(account_id=DEMO_HARVEST_ACCOUNT_ID, token=token, entries_per_day=2, **agency)
        click.echo(f"2. Harvest simulator serving a sample agency at {sim.base_url}")
        app = bootstrap(dataclasses.replace(settings, harvest_api_url=sim.base_url), engine=engine)
        account_id = _register(app, token)
        click.echo(f"3. demo account registered (id {account_id})")
        runtime = build_runtime(app, ["entities", "time_entries", "backfill"])
        consumer = threading.Thread(target=runtime.run, name="demo-worker", daemon=True)
        consumer.start()
        try:
            now = datetime.now(UTC).isoformat(timespec="microseconds")
            entities = SyncEntities(
                account_id=account_id, kinds=("clients_projects", "people"), requested_at=now
            )
            publish_tracked(app, entities)
            click.echo("4. entity sync published to RabbitMQ; a worker is consuming it...")
            _report_entities(app, account_id, wait_for_run(app, account_id, entities.message_id, 300))
            actuals = SyncActuals(account_id=account_id, requested_at=now)
            publish_tracked(app, actuals)
            click.echo("5. actuals sync published...")
            _report_actuals(app, account_id, wait_for_run(app, account_id, actuals.message_id, 300))
        finally:
            runtime.stop()
            consumer.join(timeout=30)
            # Its token only works against this simulator: keep schedulers away from it.
            with app.uow() as u:
                u.accounts.set_status(account_id, "disabled", "demo account, synced against the simulator")
                u.commit()
    engine.dispose()


def _register(app, token: str) -> int:  # type: ignore[no-untyped-def]
    sealed = app.cipher.seal(token)
    with app.uow() as u:
        existing = u.accounts.find(DEMO_ACCOUNT)
        if existing:
            u.accounts.set_token(existing.id, sealed)
            account_id = existing.id
        else:
            account_id = u.accounts.add(
                name=DEMO_ACCOUNT, harvest_account_id=DEMO_HARVEST_ACCOUNT_ID, token_sealed=sealed
            )
        u.commit()
    return account_id


def _report_entities(app, account_id: int, run: dict) -> None:  # type: ignore[no-untyped-def]
    from infra.db import tables as t

    counts = run["counts"]
    click.echo(f"   run {run['status']}")
    for entity in ("clients", "projects", "people"):
        click.echo(
            f"   {entity:<9} created {counts.get(f'{entity}.created', 0):>5}"
            f"   already present {counts.get(f'{entity}.present', 0):>5}"
        )
    with app.engine.connect() as conn:
        unknown = conn.execute(
            sa.select(t.people.c.id, t.people.c.first_name, t.people.c.last_name)
            .join(t.roles, t.roles.c.id == t.people.c.role_id)
            .where(t.people.c.account_id == account_id, t.roles.c.match_key == "unknown")
            .order_by(t.people.c.id)
        ).all()
    click.echo(f"   people whose role is Unknown (set one with `admin person`): {len(unknown)}")
    for pid, first, last in unknown:
        click.echo(f"     #{pid} {first} {last}")


def _report_actuals(app, account_id: int, run: dict) -> None:  # type: ignore[no-untyped-def]
    from infra.db import tables as t

    counts = run["counts"]
    with app.engine.connect() as conn:
        actuals = conn.execute(
            sa.select(sa.func.count()).select_from(t.actuals).where(t.actuals.c.account_id == account_id)
        ).scalar_one()
        held = conn.execute(
            sa.select(t.import_ledger.c.reason, sa.func.count())
            .where(t.import_ledger.c.account_id == account_id)
            .group_by(t.import_ledger.c.reason)
        ).all()
    click.echo(
        f"   run {run['status']}: {counts.get('entries.received', 0)} time entries read, {actuals} actuals"
    )
    for reason, n in held:
        click.echo(f"   held, not imported ({reason}): {n}  -> `harvest-sync admin ledger {DEMO_ACCOUNT}`")
