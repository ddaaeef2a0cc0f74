"""A large first sync is split by spent date so that several workers share it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from domain.commands import SyncActuals
from infra.db import tables as t
from tests.integration.actuals_support import sync_actuals, sync_entities
from tests.integration.conftest import replace_settings
from tests.integration.helpers import eventually, run_status
from tests.integration.truth import assert_actuals_match


def test_backfill_is_shared_by_workers_and_equals_ground_truth(
    app, simulator, new_account, run_worker, engine
):
    account_id, harvest_id = new_account(people=30, projects=10, clients=4, days=60, entries_per_day=2)
    store = simulator.store(harvest_id)
    split = replace_settings(app, backfill_part_entries=250)
    sync_entities(split, account_id)
    for _ in range(3):
        run_worker(("time_entries",), the_app=split)

    cmd = SyncActuals(account_id, datetime.now(UTC).isoformat())
    split.publish(cmd)

    eventually(
        lambda: run_status(engine, account_id, cmd.message_id) == "succeeded",
        timeout=120,
        what="the split backfill",
    )
    with engine.connect() as conn:
        parts = (
            conn.execute(sa.select(t.backfill_parts).where(t.backfill_parts.c.account_id == account_id))
            .mappings()
            .all()
        )
        cursor = conn.execute(
            sa.select(t.account_sync_state.c.cursor).where(
                t.account_sync_state.c.account_id == account_id, t.account_sync_state.c.kind == "actuals"
            )
        ).scalar()
    entries = store.list("time_entries")
    assert len(parts) >= len(entries) // 250
    assert all(p["done_at"] for p in parts)
    assert len({p["worker"] for p in parts}) >= 2, "one worker did every part"
    assert cursor is not None
    assert_actuals_match(engine, account_id, entries)

    # The daily sync after it is incremental and sees edits made since.
    edited = next(e for e in entries if not e["is_running"])
    store.update("time_entries", edited["id"], {"hours": 4.44})
    stats = sync_actuals(split, account_id)
    assert "backfill.parts" not in stats
    assert_actuals_match(engine, account_id, store.list("time_entries"))
