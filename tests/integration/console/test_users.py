"""`admin user add`, `harvest-sync console` itself, and sign-ins slowed down after failures
per user name and per address, each failure logged and counted."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
import sqlalchemy as sa
import structlog
from click.testing import CliRunner

from domain.signin import FREE_FAILURES
from harvest_sync.cli import main
from infra.db import tables as t
from producers.services.users import SignInRefused, sign_in
from tests.integration.console.conftest import ADMIN
from tests.integration.console.support import until

PASSWORD = "a long enough password"


def _users(engine) -> dict:
    with engine.connect() as conn:
        return {r.name: r for r in conn.execute(sa.select(t.console_users))}


def test_admin_user_add_stores_an_argon2_hash_from_the_environment(env, app, engine):
    result = CliRunner().invoke(
        main,
        ["admin", "user", "add", "olga", "--role", "viewer"],
        env={**env, "HARVEST_SYNC_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    assert "user 'olga' added as viewer" in result.output
    olga = _users(engine)["olga"]
    assert olga.role == "viewer" and olga.password_hash.startswith("$argon2id$")
    assert PASSWORD not in olga.password_hash
    assert sign_in(app, "olga", PASSWORD, "127.0.0.1").name == "olga"
    with pytest.raises(SignInRefused):
        sign_in(app, "olga", PASSWORD + "!", "127.0.0.1")


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [
        (["admin", "user", "add", "nopass", "--role", "admin"], None, "set HARVEST_SYNC_PASSWORD"),
        (["admin", "user", "add", "shorty", "--role", "admin"], "short", "at least 12 characters"),
        (["admin", "user", "add", "boss", "--role", "boss"], PASSWORD, "Invalid value for '--role'"),
        (["admin", "user", "add", "two words", "--role", "admin"], PASSWORD, "without blanks"),
        (
            ["admin", "user", "add", "twice", "--role", "admin"],
            PASSWORD,
            "a user named 'twice' already exists",
        ),
    ],
)
def test_admin_user_add_refuses_bad_input_in_one_line(env, engine, args, password, reason):
    runner = CliRunner()
    environment = {**env, "HARVEST_SYNC_PASSWORD": password or ""}
    if "twice" in args:
        assert runner.invoke(main, args, env=environment).exit_code == 0
    result = runner.invoke(main, args, env=environment)
    assert result.exit_code != 0
    assert reason in result.output, result.output
    if "twice" not in args:
        assert args[3] not in _users(engine)


def test_the_console_command_serves_healthz_on_the_port_given(env):
    from harvest_sync.cli import console

    defaults = {p.name: p.default for p in console.params}
    assert defaults == {"host": "127.0.0.1", "port": 8000}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    harvest_sync = os.path.join(os.path.dirname(sys.executable), "harvest-sync")
    proc = subprocess.Popen(
        [harvest_sync, "console", "--port", str(port)],
        env={**os.environ, **env, "METRICS_PORT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json() == {"status": "alive"}
        page = requests.get(f"http://127.0.0.1:{port}/accounts", allow_redirects=False, timeout=5)
        assert page.status_code == 303 and page.headers["location"] == "/login"
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn stops gracefully, then ends by the signal it caught.
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
        assert b"Traceback" not in proc.stdout.read()


def _attempt(console, name: str, password: str, address: str) -> requests.Response:
    """One sign-in from `address` (as a proxy in front of the console would say)."""
    session = requests.Session()
    form = session.get(console.path("/login"), timeout=5).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return session.post(
        console.path("/login"),
        data={"name": name, "password": password, "csrf_token": csrf},
        headers={"X-Forwarded-For": address},
        allow_redirects=False,
        timeout=5,
    )


def _failures(console) -> dict[str, float]:
    metric = console.core.metrics.console_sign_in_failures
    return {reason: metric.labels(reason)._value.get() for reason in ("invalid", "throttled")}


def test_failed_sign_ins_slow_down_the_user_whatever_the_address(console):
    with structlog.testing.capture_logs() as logs:
        for i in range(FREE_FAILURES):
            assert _attempt(console, ADMIN[0], "wrong password!", f"10.0.0.{i}").status_code == 401
        refused = _attempt(console, ADMIN[0], ADMIN[1], "10.0.0.99")
    assert refused.status_code == 401
    assert re.search(r"Too many failed sign-ins: try again in \d+ s\.", refused.text)
    failed = [e for e in logs if e["event"] == "console_sign_in_failed"]
    assert [e["reason"] for e in failed] == ["invalid"] * FREE_FAILURES + ["throttled"]
    assert {e["user"] for e in failed} == {ADMIN[0]} and "wrong password!" not in repr(logs)
    assert _failures(console) == {"invalid": FREE_FAILURES, "throttled": 1}
    # The wait passes, and then the right password works.
    until(lambda: _attempt(console, ADMIN[0], ADMIN[1], "10.0.0.99").status_code == 303, timeout_s=20)


def test_failed_sign_ins_slow_down_the_address_whatever_the_user(console):
    for i in range(FREE_FAILURES):
        assert _attempt(console, f"guess{i}", "wrong password!", "10.0.1.1").status_code == 401
    refused = _attempt(console, ADMIN[0], ADMIN[1], "10.0.1.1")
    assert "Too many failed sign-ins" in refused.text
    assert _attempt(console, ADMIN[0], ADMIN[1], "10.0.1.2").status_code == 303
