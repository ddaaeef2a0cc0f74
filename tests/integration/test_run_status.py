"""A run's status tells the truth about its work: a duplicate delivery that finds the run's
lock taken (the run committing on another pod) is retried, and must not turn the run it
duplicates back from succeeded to retrying."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.pipeline import AccountBusy
from domain.commands import Lock, SyncActuals
from tests.integration.actuals_support import sync_entities
from tests.integration.helpers import run_status

pytestmark = pytest.mark.integration


def test_a_duplicate_refused_its_lock_leaves_a_succeeded_run_succeeded(app, new_account, engine) -> None:
    account_id, _ = new_account(people=3, projects=2, clients=1, days=5, entries_per_day=1)
    sync_entities(app, account_id)
    cmd = SyncActuals(account_id, datetime.now(UTC).isoformat())
    app.handlers[SyncActuals](cmd)
    assert run_status(engine, account_id, cmd.run_id) == "succeeded"
    with engine.connect() as other_pod:
        other_pod.exec_driver_sql(f"SELECT pg_advisory_lock({int(Lock.ACTUALS)}, {account_id})")
        with pytest.raises(AccountBusy):
            app.handlers[SyncActuals](cmd)
        other_pod.exec_driver_sql(f"SELECT pg_advisory_unlock({int(Lock.ACTUALS)}, {account_id})")
    assert run_status(engine, account_id, cmd.run_id) == "succeeded"
