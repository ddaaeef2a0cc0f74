""" "Save and run" runs the imports in order: actuals only once clients, projects and people
are in (else their entries would wait in the ledger for the next sync), and not at all when
the import before them failed."""

from __future__ import annotations

import sqlalchemy as sa

from infra.amqp import queue_depths
from infra.db import tables as t
from producers.services.accounts import get_account
from producers.services.syncs import continue_in_order, enabled_commands, final_status, queue_in_order
from tests.integration.console.support import connected


def _runs(engine, account_id) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.sync_runs).where(t.sync_runs.c.account_id == account_id)).mappings()
        return {r["kind"]: dict(r) for r in rows}


def _held(engine, account_id) -> int:
    led = t.import_ledger
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(led.c.account_id == account_id)).scalar_one()


def test_actuals_wait_for_the_entities_they_need(core, simulator, run_worker):
    account_id = connected(core, simulator, harvest_id=4_600_001, token="pat-order", people=20)
    commands = enabled_commands(get_account(core, account_id))
    assert [c.message_id.split(":")[0] for c in commands] == ["sync-entities", "sync-actuals"]

    queue_in_order(core, commands)
    runs = _runs(core.engine, account_id)
    assert {r["status"] for r in runs.values()} == {"queued"}  # both shown at once
    s = core.settings
    depths = queue_depths(s.amqp_url, s.amqp_prefix, ["time_entries"], retry_delays=s.retry_delays)
    assert depths[f"{s.amqp_prefix}.time_entries"] == 0  # actuals not published yet

    run_worker(("entities", "time_entries"), the_app=core)
    continue_in_order(core, commands, timeout_s=60)
    assert final_status(core, account_id, commands[1].message_id, 60) == "succeeded"
    runs = _runs(core.engine, account_id)
    entities, actuals = runs["clients_projects+people"], runs["actuals"]
    assert actuals["started_at"] >= entities["finished_at"]
    with core.engine.connect() as conn:
        not_imported = conn.execute(
            sa.select(sa.func.count()).where(
                t.import_ledger.c.account_id == account_id,
                t.import_ledger.c.reason.in_(("person_not_imported", "project_not_imported")),
            )
        ).scalar_one()
    assert not_imported == 0


def test_actuals_are_skipped_with_the_reason_when_the_import_before_fails(core, simulator, run_worker):
    account_id = connected(core, simulator, harvest_id=4_600_002, token="pat-order-2")
    simulator.revoke(4_600_002)
    commands = enabled_commands(get_account(core, account_id))
    queue_in_order(core, commands)
    run_worker(("entities", "time_entries"), the_app=core)
    continue_in_order(core, commands, timeout_s=60)
    runs = _runs(core.engine, account_id)
    assert runs["clients_projects+people"]["status"] == "failed"
    assert runs["actuals"]["status"] == "skipped"
    assert runs["actuals"]["error"] == "not run: the clients_projects+people run is failed"
    assert _held(core.engine, account_id) == 0
