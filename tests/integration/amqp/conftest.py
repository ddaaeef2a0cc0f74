"""Fixtures for the RabbitMQ layer: a unique name prefix per test and cleanup after it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from amqp_testkit import Broker, Recorder
from private_node import PrivateNode, PrivateNodeError, installed

from infra.amqp import QUEUES, delete_topology

# Teardown deletes this many retry tiers per queue, whatever a test declared.
MAX_TIERS = 4


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "broker_restart: restarts the local RabbitMQ app (opt-in; see conftest)"
    )


IN_CI = os.getenv("CI") == "true"

# How long a private node waits for the target's confirm before it resends an at-least-once
# dead letter (dead_letter_worker_publisher_confirm_timeout, ms). The default, 180 s, would
# make a test wait three minutes; the shared broker must keep it.
QUICK_DEAD_LETTER_CONFIRM_TIMEOUT_MS = 2000


@contextlib.contextmanager
def _test_broker(url: str) -> Iterator[Broker]:
    """A unique ``test.<uuid8>`` prefix at ``url``; everything under it is deleted after."""
    b = Broker(url=url, prefix=f"test.{uuid.uuid4().hex[:8]}")
    try:
        yield b
    finally:
        with b.channel() as ch:
            # Deleting absent queues/exchanges is fine, so cover every queue and tier a
            # test might have declared.
            delete_topology(
                ch,
                prefix=b.prefix,
                queues=tuple(dict.fromkeys((*QUEUES, *b.queues))),
                retry_delays=(0,) * MAX_TIERS,
            )
        b.close()


@pytest.fixture
def broker(amqp_url: str) -> Iterator[Broker]:
    """A unique ``test.<uuid8>`` prefix; every queue and exchange under it is deleted after."""
    with _test_broker(amqp_url) as b:
        yield b


def _require_local_rabbitmq() -> None:
    """Private nodes need a local RabbitMQ install: skip without one (fail under CI=true)."""
    if not installed():
        message = "rabbitmq-server and rabbitmqctl are needed for a private RabbitMQ node"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def quick_dead_letter_node() -> Iterator[PrivateNode]:
    """A private node resending unconfirmed dead letters after QUICK_DEAD_LETTER_CONFIRM_TIMEOUT_MS."""
    _require_local_rabbitmq()
    setting = "dead_letter_worker_publisher_confirm_timeout"
    with PrivateNode(
        "hs-dlx",
        advanced_config=[f"{{rabbit, [{{{setting}, {QUICK_DEAD_LETTER_CONFIRM_TIMEOUT_MS}}}]}}"],
    ) as node:
        held = node.app_setting("rabbit", setting)
        if held != f"{{ok,{QUICK_DEAD_LETTER_CONFIRM_TIMEOUT_MS}}}":
            raise PrivateNodeError(f"{node.node} holds {setting} = {held}, not the advanced.config value")
        yield node


@pytest.fixture
def quick_dead_letter_broker(quick_dead_letter_node: PrivateNode) -> Iterator[Broker]:
    """Like ``broker``, on the private node of ``quick_dead_letter_node``."""
    with _test_broker(quick_dead_letter_node.amqp_url) as b:
        yield b


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _rabbitmqctl_usable(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return bool(shutil.which("rabbitmqctl")) and host in ("127.0.0.1", "localhost", "::1")


def _ctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


@pytest.fixture
def kill_connections(amqp_url: str) -> Callable[[str], int]:
    """Force-close broker connections whose name contains a fragment (local rabbitmqctl)."""
    if not _rabbitmqctl_usable(amqp_url):
        pytest.skip("needs rabbitmqctl for a broker on this machine")

    def kill(fragment: str) -> int:
        listing = _ctl("list_connections", "--no-table-headers", "pid", "client_properties")
        pids = [line.split("\t", 1)[0] for line in listing.splitlines() if fragment in line]
        for pid in pids:
            _ctl("close_connection", pid, "killed by test")
        return len(pids)

    return kill


@pytest.fixture
def restart_broker(amqp_url: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], None]]:
    """``stop_app`` + ``start_app`` on the local broker, which is always left running.

    Opt-in, because it disrupts everything else using the shared broker: select it with
    ``-m broker_restart`` or set ``AMQP_BROKER_RESTART_TESTS=1``.
    """
    selected = "broker_restart" in (request.config.option.markexpr or "")
    if not (selected or os.getenv("AMQP_BROKER_RESTART_TESTS") == "1"):
        pytest.skip("broker restart tests are opt-in (-m broker_restart)")
    if not _rabbitmqctl_usable(amqp_url):
        pytest.skip("needs rabbitmqctl for a broker on this machine")

    def restart() -> None:
        try:
            _ctl("stop_app")
            time.sleep(1.0)  # down long enough for clients to meet refused connections
        finally:
            _ctl("start_app")

    try:
        yield restart
    finally:
        _ctl("start_app")  # idempotent: whatever happened, leave the broker up
        _ctl("await_startup")
