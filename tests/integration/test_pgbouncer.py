"""Behind PgBouncer in transaction pooling mode (what an installation of thousands of tenants
puts in front of PostgreSQL): with DATABASE_PREPARED_STATEMENTS=off every sync works, though
consecutive transactions of one client connection land on different server sessions.

The PgBouncer is Debian's, started for the test on a free port in front of the test
database, and stopped after it; locally it skips without `pgbouncer`, under CI it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvest_sync.bootstrap import bootstrap
from infra.db.engine import make_engine
from tests.conftest import IN_CI
from tests.integration.actuals_support import sync_actuals, sync_entities
from tests.integration.amqp.private_node import free_port
from tests.integration.helpers import statements_sent
from tests.integration.truth import assert_actuals_match, assert_entries_match

pytestmark = pytest.mark.integration

SERVER_SESSIONS = 3


@pytest.fixture
def pgbouncer(database_url: str) -> Iterator[str]:
    """A transaction-pooling PgBouncer in front of the test database: its URL."""
    binary = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if binary is None:
        if IN_CI:
            pytest.fail("pgbouncer is needed (Debian package pgbouncer)")
        pytest.skip("pgbouncer is not installed")
    url = sa.make_url(database_url)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="hs-pgbouncer-") as workdir:
        ini = Path(workdir) / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{url.database} = host={url.host or '127.0.0.1'} port={url.port or 5432}"
            f" dbname={url.database} user={url.username or 'postgres'}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            # Round robin: a client's next transaction goes to another server session even
            # when it is the only client, as it would on a busy pooler.
            "auth_type = any\npool_mode = transaction\nserver_round_robin = 1\n"
            f"default_pool_size = {SERVER_SESSIONS}\nmax_client_conn = 100\n"
            f"logfile = {workdir}/pgbouncer.log\npidfile = {workdir}/pgbouncer.pid\n"
        )
        # PgBouncer refuses to run as root; -u drops to the given user, who writes its log here.
        user = ["-u", "postgres"] if os.geteuid() == 0 else []
        if user:
            shutil.chown(workdir, "postgres")
        proc = subprocess.Popen([binary, *user, str(ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        bouncer_url = url.set(port=port, host="127.0.0.1").render_as_string(hide_password=False)
        try:
            _wait_until_serving(bouncer_url, proc)
            yield bouncer_url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_until_serving(url: str, proc: subprocess.Popen, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 2})
    try:
        while True:
            if proc.poll() is not None:
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"pgbouncer exited ({proc.returncode}): {output}")
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        engine.dispose()


def test_syncs_run_behind_transaction_pooling_without_prepared_statements(
    pgbouncer, settings, simulator, new_account, engine
) -> None:
    bounced = make_engine(pgbouncer, pool_size=2, prepared_statements=False)
    try:
        app = bootstrap(settings, engine=bounced)
        with statements_sent(bounced) as sent:
            account_id, harvest_id = new_account(people=6, projects=4, clients=2, days=20)
            sync_entities(app, account_id)
            sync_actuals(app, account_id)  # the first sync
            store = simulator.store(harvest_id)
            store.delete("time_entries", store.list("time_entries")[0]["id"])
            for _ in range(3):  # dailies, the first finding the deletion, each on any server session
                sync_actuals(app, account_id)
        with bounced.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            sessions = {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() for _ in range(20)}
    finally:
        bounced.dispose()
    assert_entries_match(engine, account_id, store.list("time_entries"))
    assert_actuals_match(engine, account_id, store.list("time_entries"))
    assert not [s for s in sent if s.lstrip().startswith(("PREPARE", "EXECUTE"))]
    assert any("entry_day_counts" in s for s in sent)  # the hot statements ran, sent whole
    # Transaction pooling did spread one client connection over several server sessions.
    assert len(sessions) > 1
