"""A new user's three first failures: RabbitMQ down, PostgreSQL down, the database not migrated.

Every admin command, in each condition, prints one line naming what is missing and how to fix
it, and exits with the status README documents; the long-running commands (worker, scheduler)
and the demo do the same at start, in a real process whose whole stderr is that line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from harvest_sync.cli import main
from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from infra.preflight import DatabaseNotMigrated, explain, require_database
from tests.integration.helpers import new_database, register_account

BROKER, DATABASE = "broker", "database"
NOT_MIGRATED = "the database is not migrated: run `harvest-sync migrate`"

# Every admin command with arguments that get it as far as its first use of a service, and
# which services it uses. {account} is an account that exists, {name} a fresh name.
ADMIN_COMMANDS: dict[str, tuple[list[str], set[str]]] = {
    "generate-key": ([], set()),
    "rotate-key": ([], {DATABASE}),
    "account add": (["--name", "{name}", "--harvest-account-id", "77"], {DATABASE}),
    "account set-token": (["{account}"], {DATABASE}),
    "account list": ([], {DATABASE}),
    "account set": (["{account}", "--autofill", "off"], {DATABASE}),
    "sync": (["{account}", "--what", "people"], {DATABASE, BROKER}),
    "status": (["{account}"], {DATABASE}),
    "link": (["{account}", "--project", "999999", "--harvest-id", "5"], {DATABASE}),
    "assign": (
        [
            "{account}",
            "--person",
            "999999",
            "--project",
            "999999",
            "--role",
            "Lead",
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-06",
            "--minutes-per-day",
            "60",
        ],
        {DATABASE},
    ),
    "assignments": (["{account}"], {DATABASE}),
    "unassign": (["{account}", "999999"], {DATABASE}),
    "person": (["{account}", "999999", "--role", "Lead"], {DATABASE}),
    "tag": (["{account}", "--project", "999999", "--add", "sync_off"], {DATABASE}),
    "ledger": (["{account}"], {DATABASE}),
    "timeoff": (["{account}", "--list"], {DATABASE}),
    "export": (["{account}", "--format", "json"], {DATABASE}),
    "verify": (["{account}"], {DATABASE}),
    "user add": (["{name}", "--role", "viewer"], {DATABASE}),
    "user list": ([], {DATABASE}),
    "dlq list": (["--queue", "entities"], {BROKER}),
    "dlq show": (["--queue", "entities", "no-such-id"], {BROKER}),
    "dlq replay": (["--queue", "entities"], {BROKER}),
    "dlq purge": (["--queue", "entities", "--yes"], {BROKER}),
    "topology upgrade": ([], {BROKER}),
}


def _leaf_commands(group: click.Group, prefix: str = "") -> set[str]:
    found = set()
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found |= _leaf_commands(command, f"{path} ")
        else:
            found.add(path)
    return found


def test_the_table_names_every_admin_command():
    # A command added later must be added here, and so be tried in all three conditions.
    assert _leaf_commands(main.commands["admin"]) == set(ADMIN_COMMANDS)


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def down_port() -> int:
    """A port nothing listens on: connections to it are refused at once."""
    return _unused_port()


@pytest.fixture(scope="module")
def empty_database_url(server_database_url: str) -> Iterator[str]:
    """A database created just now and never migrated."""
    with new_database(server_database_url, "hs_unmigrated") as url:
        yield url


@pytest.fixture(scope="module")
def working_env(database_url: str, amqp_url: str, secret_key: str) -> Iterator[dict[str, str]]:
    """Everything up, under a broker prefix of this module's own whose queues are declared
    (as a worker's first start does), with one account."""
    from harvest_sync.bootstrap import bootstrap
    from infra.amqp import declare_topology, delete_topology
    from infra.amqp.connection import blocking_channel
    from infra.config import load_settings

    prefix = f"test.{uuid.uuid4().hex[:8]}"
    environment = {
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "AMQP_PREFIX": prefix,
        "HARVEST_SYNC_SECRET_KEY": secret_key,
        "RETRY_DELAYS": "1,2",
        "LOG_LEVEL": "warning",
        "ACCOUNT": f"acme-{uuid.uuid4().hex[:6]}",
    }
    app = bootstrap(load_settings(environment))
    register_account(app, harvest_account_id=4242, token="tok-clean-failures", name=environment["ACCOUNT"])
    app.engine.dispose()
    with blocking_channel(amqp_url, role="test", prefix=prefix) as channel:
        declare_topology(channel, prefix=prefix, retry_delays=(1, 2))
    yield environment
    with blocking_channel(amqp_url, role="test-cleanup", prefix=prefix) as channel:
        delete_topology(channel, prefix=prefix, retry_delays=(1, 2))


@pytest.fixture(scope="module")
def conditions(working_env, down_port, empty_database_url) -> dict[str, tuple[dict, str, int]]:
    """condition -> (environment, the one line expected, exit status) for a command needing it."""
    down_db = make_url(working_env["DATABASE_URL"]).set(port=down_port)
    shown_db = down_db.render_as_string(hide_password=True)
    return {
        "broker down": (
            {**working_env, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{down_port}/%2F"},
            f"harvest-sync: RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:{down_port}/%2F: "
            "start it or set AMQP_URL",
            3,
        ),
        "database down": (
            {**working_env, "DATABASE_URL": down_db.render_as_string(hide_password=False)},
            f"harvest-sync: PostgreSQL is not reachable at {shown_db}: start it or set DATABASE_URL",
            4,
        ),
        "not migrated": (
            {**working_env, "DATABASE_URL": empty_database_url},
            f"harvest-sync: {NOT_MIGRATED}",
            5,
        ),
    }


MISSING = {"broker down": BROKER, "database down": DATABASE, "not migrated": DATABASE}


@pytest.mark.parametrize("condition", list(MISSING))
@pytest.mark.parametrize("command", list(ADMIN_COMMANDS))
def test_each_admin_command_says_in_one_line_what_is_missing(command, condition, conditions):
    environment, line, status = conditions[condition]
    extra, needs = ADMIN_COMMANDS[command]
    args = [a.format(account=environment["ACCOUNT"], name=f"new-{uuid.uuid4().hex[:6]}") for a in extra]
    result = CliRunner().invoke(
        main,
        ["admin", *command.split(), *args],
        env={**environment, "HARVEST_TOKEN": "tok-x", "HARVEST_SYNC_PASSWORD": "a long password, 1"},
    )
    if MISSING[condition] in needs:
        assert (result.exit_code, result.stderr, result.stdout) == (status, line + "\n", ""), result.output
    else:
        # It does not need what is missing: it works, or fails for its own reason in one line.
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "not reachable" not in result.output and "migrate" not in result.output


def test_dead_letters_before_any_worker_declared_the_queues(env):
    result = CliRunner().invoke(main, ["admin", "dlq", "list", "--queue", "entities"], env=env)
    queue = f"{env['AMQP_PREFIX']}.entities.dead"
    assert result.exit_code == 3
    assert result.stderr == (
        f"harvest-sync: RabbitMQ has no queue '{queue}' in vhost '/': start a worker once "
        "(it declares the queues) or check AMQP_PREFIX\n"
    )


def test_a_database_that_does_not_exist_is_named_with_the_fix(working_env):
    url = make_url(working_env["DATABASE_URL"]).set(database="hs_never_created")
    environment = {**working_env, "DATABASE_URL": url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(main, ["migrate"], env=environment)
    shown = url.render_as_string(hide_password=True)
    assert (result.exit_code, result.stderr) == (
        4,
        f'harvest-sync: the database "hs_never_created" does not exist on PostgreSQL at {shown}: '
        "create it (createdb hs_never_created) or set DATABASE_URL\n",
    )


def test_a_missing_table_in_a_migrated_database_is_not_called_unmigrated(engine, database_url, amqp_url):
    # A query on a table no migration makes is a bug to see, not a reason to run migrate.
    with pytest.raises(sa.exc.ProgrammingError) as raised, engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert explain(raised.value, database_url=database_url, amqp_url=amqp_url) is None


def test_a_database_behind_this_version_names_both_revisions(server_database_url):
    with new_database(server_database_url, "hs_behind") as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0005")
            with pytest.raises(DatabaseNotMigrated) as raised:
                require_database(engine)
            assert str(raised.value).startswith("the database is at revision 0005, this version needs 00")
            assert str(raised.value).endswith(": run `harvest-sync migrate`")
            upgrade(engine)
            require_database(engine)  # migrated: passes
        finally:
            engine.dispose()


# -- real processes: stderr is the line and nothing else (no library log lines) -------------

CLI = [str(Path(sys.executable).with_name("harvest-sync"))]
DEMO = ["demo", "--people", "2", "--projects", "1", "--clients", "1", "--days", "1"]
PROCESSES = {
    **{
        (command, condition): args
        for command, args in {
            "admin sync": ["admin", "sync", "{account}", "--what", "people", "--wait"],
            "worker": ["worker", "--queues", "entities"],
            "scheduler": ["scheduler", "--interval", "1"],
        }.items()
        for condition in MISSING
    },
    ("demo", "broker down"): DEMO,
    ("demo", "database down"): DEMO,
    ("admin sync debug", "broker down"): ["admin", "sync", "{account}"],
}


def _run(args: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AMQP_URL", "LOG_LEVEL")}
    return subprocess.run(
        CLI + [a.format(account=environment["ACCOUNT"]) for a in args],
        env={**base, "LOG_LEVEL": "info", **environment, "METRICS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def finished(conditions) -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    """Every process below, run side by side (each spends its time starting Python)."""

    def run(case: tuple[str, str]) -> subprocess.CompletedProcess[str]:
        environment = conditions[case[1]][0]
        if case[0].endswith("debug"):
            environment = {**environment, "LOG_LEVEL": "debug"}
        return _run(PROCESSES[case], environment)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(PROCESSES, pool.map(run, PROCESSES), strict=True))


@pytest.mark.parametrize(
    "case", [c for c in PROCESSES if c[0] in ("admin sync", "worker", "scheduler")], ids=" / ".join
)
def test_a_process_prints_only_the_line_and_exits_with_its_status(case, conditions, finished):
    _environment, line, status = conditions[case[1]]
    done = finished[case]
    assert (done.returncode, done.stderr, done.stdout) == (status, line + "\n", "")


SERVICE_AND_VARIABLE = {
    "broker down": ("RabbitMQ", "AMQP_URL"),
    "database down": ("PostgreSQL", "DATABASE_URL"),
}


@pytest.mark.parametrize("condition", list(SERVICE_AND_VARIABLE))
def test_the_demo_says_what_to_start(condition, conditions, finished):
    done = finished[("demo", condition)]
    service, variable = SERVICE_AND_VARIABLE[condition]
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"harvest-sync: {service} is not reachable at ")
    assert line.endswith(f"or set {variable}")
    assert done.returncode == conditions[condition][2]


def test_log_level_debug_adds_the_traceback_and_the_library_lines(conditions, finished):
    _environment, line, status = conditions["broker down"]
    done = finished[("admin sync debug", "broker down")]
    assert done.returncode == status
    assert "Traceback (most recent call last)" in done.stderr
    assert " pika." in done.stderr  # pika's own records, shown only at debug
    assert done.stderr.splitlines()[-1] == line
