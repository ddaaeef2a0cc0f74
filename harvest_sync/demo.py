"""`harvest-sync demo`: the whole path on a sample agency, in one command.

Migrate, start the simulator, register a demo account, publish the sync, consume it, and show
what was imported. Running it again imports nothing twice.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from datetime import UTC, datetime

import click
import sqlalchemy as sa

from infra.config import load_settings

DEMO_ACCOUNT = "demo"
DEMO_HARVEST_ACCOUNT_ID = 1_000_001


@click.command()
@click.option("--people", default=25, show_default=True, type=click.IntRange(1, 5000))
@click.option("--projects", default=12, show_default=True, type=click.IntRange(1, 10000))
@click.option("--clients", default=5, show_default=True, type=click.IntRange(1, 1000))
@click.option("--seed", default=1, show_default=True, type=int)
def demo(people: int, projects: int, clients: int, seed: int) -> None:
    """Run the main job end to end against a simulated Harvest agency."""
    from simulator.server import SimulatorServer

    from consumers.worker import build_runtime
    from harvest_sync.services import ServiceUnavailable, ensure_database, services
    from infra.bootstrap import bootstrap
    from infra.crypto import generate_key
    from infra.db.engine import make_engine
    from infra.db.migrate import upgrade
    from infra.logging import configure_logging
    from producers.admin import wait_for_run

    settings = load_settings(require_secret=False)
    configure_logging("warning", settings.log_format)
    if not settings.secret_keys:
        click.echo("HARVEST_SYNC_SECRET_KEY not set: using a throw-away key for this demo")
        settings = dataclasses.replace(settings, secret_keys=(generate_key(),))
    try:
        stack = services(settings.database_url, settings.amqp_url)
        database_url, amqp_url = stack.__enter__()
    except ServiceUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    try:
        ensure_database(database_url)
        engine = make_engine(database_url)
        upgrade(engine)
        click.echo("1. database migrated")
        token = secrets.token_urlsafe(24)
        with SimulatorServer(port=0) as sim:
            sim.add_account(
                account_id=DEMO_HARVEST_ACCOUNT_ID,
                token=token,
                seed=seed,
                people=people,
                projects=projects,
                clients=clients,
                days=14,
                entries_per_day=2,
            )
            click.echo(f"2. Harvest simulator serving a sample agency at {sim.base_url}")
            settings = dataclasses.replace(
                settings, database_url=database_url, amqp_url=amqp_url, harvest_api_url=sim.base_url
            )
            app = bootstrap(settings, engine=engine)
            account_id = _register(app, token)
            click.echo(f"3. demo account registered (id {account_id})")
            runtime = build_runtime(app, ["entities"])
            consumer = threading.Thread(target=runtime.run, name="demo-worker", daemon=True)
            consumer.start()
            from domain.commands import SyncEntities

            cmd = SyncEntities(
                account_id=account_id,
                kinds=("clients_projects", "people"),
                requested_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            )
            with app.uow() as u:
                u.runs.upsert(
                    account_id=account_id,
                    kind="+".join(cmd.kinds),
                    message_id=cmd.message_id,
                    status="queued",
                    requested_at=datetime.now(UTC),
                )
                u.commit()
            app.publish(cmd)
            click.echo("4. sync published to RabbitMQ; consuming...")
            run = wait_for_run(app, account_id, cmd.message_id, timeout_s=300)
            runtime.stop()
            consumer.join(timeout=30)
        _report(app, account_id, run)
        engine.dispose()
    finally:
        stack.__exit__(None, None, None)


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


def _report(app, account_id: int, run: dict) -> None:  # type: ignore[no-untyped-def]
    from infra.db import tables as t

    counts = run["counts"]
    click.echo(f"5. run {run['status']}")
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
    click.echo(f"   people whose role is Unknown (set one before syncing actuals): {len(unknown)}")
    for pid, first, last in unknown:
        click.echo(f"     #{pid} {first} {last}")
