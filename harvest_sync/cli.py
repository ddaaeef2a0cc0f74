"""`harvest-sync`: one console command with a subcommand per job."""

from __future__ import annotations

import os
import sys
import traceback

import click

from infra.config import DEFAULTS, ConfigError, load_settings
from infra.logging import configure_logging, quiet_libraries
from infra.preflight import BrokerUnreachable, DatabaseNotMigrated, DatabaseUnreachable, Missing, explain

# README "Exit statuses". Click itself exits 1 for a failed command, 2 for bad usage.
EXIT_CONFIG = 2
EXIT_STATUS: dict[type[Missing], int] = {
    BrokerUnreachable: 3,
    DatabaseUnreachable: 4,
    DatabaseNotMigrated: 5,
}


class CommandGroup(click.Group):
    """Every subcommand, present or added later, fails the same way when something is missing:
    one line on stderr naming it and the fix, and a documented exit status. The traceback is
    shown only with LOG_LEVEL=debug."""

    def invoke(self, ctx: click.Context) -> object:
        debug = os.environ.get("LOG_LEVEL", "").lower() == "debug"
        quiet_libraries("debug" if debug else "info")
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"harvest-sync: configuration error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except Exception as exc:
            missing = _explain(exc)
            if missing is None:
                raise
            if debug:
                traceback.print_exc()
            click.echo(f"harvest-sync: {missing}", err=True)
            sys.exit(next(code for kind, code in EXIT_STATUS.items() if isinstance(missing, kind)))


def _explain(exc: Exception) -> Missing | None:
    try:
        settings = load_settings(require_secret=False)
        database_url, amqp_url = settings.database_url, settings.amqp_url
    except ConfigError:
        database_url = os.environ.get("DATABASE_URL") or DEFAULTS["DATABASE_URL"]
        amqp_url = os.environ.get("AMQP_URL") or DEFAULTS["AMQP_URL"]
    return explain(exc, database_url=database_url, amqp_url=amqp_url)


@click.group(cls=CommandGroup)
def main() -> None:
    """Keep a resource-planning PostgreSQL database fed from Harvest."""


@main.command()
def migrate() -> None:
    """Apply database migrations (safe to run twice, or from several pods)."""
    from infra.db.engine import make_engine
    from infra.db.migrate import current_revision, upgrade

    settings = load_settings(require_secret=False)
    configure_logging(settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url, prepared_statements=settings.database_prepared_statements)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()


@main.command()
@click.option(
    "--queues",
    default="entities",
    show_default=True,
    help="Comma-separated queues to consume: entities, time_entries, backfill, autofill."
    " A worker of time_entries consumes backfill too (the parts of large first syncs).",
)
@click.option(
    "--prefetch",
    type=click.IntRange(1, 64),
    default=None,
    help="Messages in flight per queue (default PREFETCH); backfill parts always one at a time.",
)
@click.option(
    "--only-named",
    is_flag=True,
    help="Consume only the queues named: a time_entries worker then takes no backfill parts.",
)
def worker(queues: str, prefetch: int | None, only_named: bool) -> None:
    """Consume commands until SIGTERM; any number of workers may run side by side."""
    from domain.commands import QUEUES
    from harvest_sync.worker import run_worker

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if not names or unknown:
        raise click.BadParameter(f"unknown queue(s) {unknown or names}; choose from {', '.join(QUEUES)}")
    run_worker(names, prefetch=prefetch, only_named=only_named)


@main.command()
@click.option(
    "--interval", type=click.FloatRange(1, 3600), default=30, show_default=True, help="Seconds per tick."
)
@click.option(
    "--catch-up-hours",
    type=click.IntRange(1, 24 * 14),
    default=48,
    show_default=True,
    help="After downtime, publish the slots missed this far back, once each.",
)
def scheduler(interval: float, catch_up_hours: int) -> None:
    """Publish every account's daily syncs and weekly autofill; safe with several replicas."""
    import signal
    from datetime import timedelta

    from infra.app import build_app
    from infra.observability.wiring import scheduler_check, serve_observability
    from infra.preflight import require_broker, require_database
    from producers.scheduler import Scheduler

    app = build_app()
    configure_logging(app.settings.log_level, app.settings.log_format)
    require_database(app.engine)
    require_broker(app.settings.amqp_url)
    runner = Scheduler(app, catch_up=timedelta(hours=catch_up_hours), on_tick=app.metrics.scheduler_tick)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    signal.signal(signal.SIGINT, lambda *_: runner.stop())
    server = serve_observability(app, broker=scheduler_check(runner), role="scheduler")
    try:
        runner.run(interval)
    finally:
        if server is not None:
            server.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def console(host: str, port: int) -> None:
    """Serve the integrations console; sign in with a user from `admin user add`."""
    from infra.app import build_app
    from infra.config import load_console_settings
    from infra.observability.wiring import broker_check, serve_observability
    from producers.console.app import serve

    app = build_app()
    configure_logging(app.settings.log_level, app.settings.log_format)
    console_settings = load_console_settings()
    # /healthz, /readyz and /metrics (sign-in failures among them) on METRICS_PORT, as workers do.
    server = serve_observability(app, broker=broker_check(app.settings.amqp_url))
    try:
        serve(app, console_settings, host=host, port=port)
    finally:
        if server is not None:
            server.close()


def _register() -> None:
    """Attach the subcommands. The admin modules add their commands to `admin` on import."""
    import producers.admin_dlq
    import producers.admin_planning
    import producers.admin_settings
    import producers.admin_status
    import producers.admin_topology
    import producers.admin_users
    import producers.admin_verify
    import producers.export  # noqa: F401
    from harvest_sync.demo import demo
    from producers.admin import admin
    from simulator.cli import simulator_command

    main.add_command(admin)
    main.add_command(demo)
    main.add_command(simulator_command, name="simulator")


_register()
