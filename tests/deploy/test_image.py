"""The image, built from the Dockerfile and run with podman: it builds on Debian's Python, runs
as uid 10001, migrates a fresh database on the host, and a containerised worker consumes a
command published from the host, writes its run and answers /healthz.

The build is cached in podman's store by the hash of what it is made from (tests/deploy/
podman.py). Without podman, runc or debootstrap, or not as root, the module skips with the
reason; under CI=true that is a failure (.ci/run installs them).
"""

from __future__ import annotations

import json
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import IN_CI
from tests.deploy import podman as pm

MAX_IMAGE_BYTES = 300 * 1000 * 1000  # README "The image"
COMPOSE_HEALTHCHECK = yaml.safe_load((pm.REPO / "docker-compose.yml").read_text())["x-healthz"]["test"]
UID = "10001"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def image() -> str:
    missing = pm.missing_tools()
    if missing:
        if IN_CI:
            pytest.fail(f"cannot build the image: {missing}")
        pytest.skip(f"image not built: {missing}")
    ref, seconds = pm.app_image()
    print(f"image {ref} ready in {seconds:.0f} s")
    return ref


def run(image: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    return pm.podman("run", "--rm", *pm.RUN_FLAGS, *flags, image, *args, timeout=timeout, check=False)


@pytest.fixture
def fresh_database(server_database_url: str) -> Iterator[str]:
    """An empty database on the host's PostgreSQL, dropped afterwards."""
    from tests.integration.helpers import new_database

    with new_database(server_database_url, "hs_image") as url:
        yield url


def test_the_image_is_built_from_the_dockerfile_on_debians_python(image):
    (inspected,) = json.loads(pm.podman("image", "inspect", image).stdout)
    assert inspected["Config"]["User"] == UID
    assert inspected["Config"]["Cmd"] == ["harvest-sync", "--help"]
    done = run(image, "sh", "-c", "cat /etc/debian_version; command -v harvest-sync")
    assert done.returncode == 0, done.stderr
    version, program = done.stdout.split()
    assert version.startswith("12.")  # bookworm, the stand-in for python:3.11-slim
    assert program == "/opt/harvest-sync/bin/harvest-sync"  # from the virtualenv


def test_help_runs_as_uid_10001_who_cannot_change_the_app(image):
    done = run(image)  # the default command
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: harvest-sync")
    who = run(image, "sh", "-c", "id -u; touch /opt/harvest-sync/bin/x 2>/dev/null && echo writable")
    assert who.stdout.split() == [UID]


def test_the_image_is_smaller_than_stated(image):
    size = int(pm.podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size < MAX_IMAGE_BYTES, f"{size / 1e6:.0f} MB"


def test_migrate_works_against_a_fresh_database_on_the_host(image, fresh_database):
    from infra.db.migrate import head_revision

    done = run(image, "harvest-sync", "migrate", env={"DATABASE_URL": fresh_database})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"database at revision {head_revision()}"
    engine = sa.create_engine(fresh_database)
    try:
        with engine.connect() as conn:
            assert (
                conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
            )
            assert conn.execute(sa.text("SELECT count(*) FROM accounts")).scalar() == 0
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except OSError:
        return 0, {}


def test_a_containerised_worker_consumes_a_command_from_the_host(image, fresh_database, amqp_url):
    from domain.commands import SyncEntities
    from harvest_sync.bootstrap import bootstrap
    from infra.config import load_settings
    from infra.crypto import generate_key
    from infra.db.migrate import upgrade
    from producers.admin import publish_tracked, wait_for_run
    from simulator.server import SimulatorServer
    from tests.integration.helpers import eventually, register_account

    port, name = _free_port(), f"harvest-sync-test-{uuid.uuid4().hex[:8]}"
    with SimulatorServer(port=0) as sim:
        env = {
            "DATABASE_URL": fresh_database,
            "AMQP_URL": amqp_url,
            "AMQP_PREFIX": f"test.{uuid.uuid4().hex[:8]}",
            "HARVEST_API_URL": sim.base_url,
            "HARVEST_SYNC_SECRET_KEY": generate_key(),
            "METRICS_PORT": str(port),
            "LOG_FORMAT": "json",
        }
        app = bootstrap(load_settings(env))
        upgrade(app.engine)
        sim.add_account(account_id=1_234_567, token="tok-image", people=6, projects=3, clients=2, days=2)
        account_id = register_account(app, harvest_account_id=1_234_567, token="tok-image", name="image")
        flags = [f"--env={k}={v}" for k, v in env.items()]
        started = pm.podman(
            "run", "--detach", "--name", name, *pm.RUN_FLAGS, *flags, image, "harvest-sync", "worker"
        )
        assert started.returncode == 0
        try:
            # Its endpoints answer: alive at once, ready once consuming
            base = f"http://127.0.0.1:{port}"
            eventually(lambda: _get(f"{base}/readyz")[0] == 200, timeout=60, what="the worker's /readyz")
            assert _get(f"{base}/healthz") == (200, {"status": "alive"})
            # docker-compose.yml's healthcheck passes in this image (its port made this one's)
            probe = [arg.replace("9100", str(port)) for arg in COMPOSE_HEALTHCHECK[1:]]
            assert pm.podman("exec", name, *probe, check=False).returncode == 0

            # When the host publishes a command, the containerised worker runs it to the end
            cmd = SyncEntities(account_id, ("clients_projects", "people"), datetime.now(UTC).isoformat())
            publish_tracked(app, cmd)
            run_row = wait_for_run(app, account_id, cmd.message_id, 90)
            assert run_row["status"] == "succeeded", run_row
            assert run_row["counts"]["people.created"] == 6

            # And it stops cleanly on SIGTERM
            pm.podman("stop", "--time", "30", name, timeout=60)
            inspected = pm.podman("inspect", "--format", "{{.State.ExitCode}}", name)
            assert inspected.stdout.strip() == "0"
        finally:
            logs = pm.podman("logs", name, check=False)
            pm.podman("rm", "--force", name, check=False)
            _delete_topology(amqp_url, env["AMQP_PREFIX"])
            app.engine.dispose()
        assert '"event":"worker_started"' in logs.stdout + logs.stderr  # JSON logs, as configured


def _delete_topology(amqp_url: str, prefix: str) -> None:
    from infra.amqp import QUEUES, delete_topology
    from infra.amqp.connection import blocking_channel

    with blocking_channel(amqp_url, role="test-cleanup", prefix=prefix) as channel:
        delete_topology(channel, prefix=prefix, queues=QUEUES)
