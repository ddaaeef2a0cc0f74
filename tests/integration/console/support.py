"""Setting the scene for console tests without clicking through it (the journey test clicks)."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from domain.commands import SyncEntities
from infra.app import App
from infra.db import tables as t
from producers.services.accounts import connect_account
from producers.services.syncs import final_status, now_iso, publish_tracked


def connected(core: App, simulator, *, harvest_id: int, token: str, name: str = "acme", **sizes: int) -> int:
    """A simulated Harvest account, connected here the way the console connects one."""
    params = {"seed": 7, "people": 12, "projects": 8, "clients": 4, "days": 10, "entries_per_day": 2}
    simulator.add_account(account_id=harvest_id, token=token, **{**params, **sizes})
    account_id, _ = connect_account(core, name=name, harvest_account_id=harvest_id, token=token)
    return account_id


def import_entities(core: App, account_id: int) -> None:
    cmd = SyncEntities(account_id=account_id, kinds=("clients_projects", "people"), requested_at=now_iso())
    publish_tracked(core, cmd)
    assert final_status(core, account_id, cmd.message_id, 60) == "succeeded"


def until(condition: Callable[[], object], timeout_s: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.1)


def account_row(core: App, account_id: int) -> dict:
    with core.engine.connect() as conn:
        return dict(conn.execute(sa.select(t.accounts).where(t.accounts.c.id == account_id)).mappings().one())
