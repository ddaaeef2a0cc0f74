"""What an actuals sync reads before it asks Harvest anything, in one round trip: whether a
first sync is being shared out in parts, its sync state (cursor, hold facts, last full
listing), its checkpoint, the digest of what holds depend on now, the people whose entries
must be resolved again, and whether the command's run is in the inbox already.

Six statements were six waits on a busy server at the start of every daily sync; at
thousands of accounts a day they were half of its statements (issue 16). All are read after
the statement that took the sync's lock, so none can miss what the lock's last holder wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from domain.actuals import SYNC_OFF_TAG
from infra.db.checkpoints import Checkpoint
from infra.db.lookups import HOLD_FACTS_SQL
from infra.db.prepared import Prepared

STATE_COLUMNS = (
    "last_success_at",
    "last_error",
    "last_error_at",
    "cursor",
    "last_full_reconcile_at",
    "hold_facts",
)


@dataclass(frozen=True)
class ActualsStart:
    state: dict  # the account's "actuals" sync state ({} before its first sync completes)
    checkpoint: Checkpoint | None  # of `scope`, as CheckpointRepository.find
    hold_facts: str  # the digest of what holds depend on now (infra.db.lookups.HOLD_FACTS_SQL)
    dirty_people: list[int]  # people whose role or assignments changed since they were resolved
    unfinished_backfill: str | None  # the id of a first sync still shared out in parts
    processed: bool  # the inbox holds `inbox` (consumer, message id): the run is done already


def read_actuals_start(
    conn: sa.Connection, account_id: int, scope: str, inbox: tuple[str, str] | None = None
) -> ActualsStart:
    consumer, message_id = inbox or (None, None)
    params = {
        "a": account_id,
        "scope": scope,
        "sync_off": SYNC_OFF_TAG,
        "consumer": consumer,
        "message": message_id,
    }
    row = _START.execute(conn, params).mappings().one()
    state = {"account_id": account_id, "kind": row["kind"], **{c: row[c] for c in STATE_COLUMNS}}
    saved = row["run_id"]
    checkpoint = Checkpoint(saved, row["state"], float(row["age_s"])) if saved is not None else None
    return ActualsStart(
        state if row["kind"] else {},
        checkpoint,
        row["digest"],
        list(row["dirty"]),
        row["backfill_id"],
        row["processed"],
    )


# The digest only where something is held, or before a first sync: with no held entry there
# is nothing it could release, and reading every person and project of the account for it was
# half of this statement's time. '' differs from any digest, so the sync after a daily's new
# holds appear looks at the held entries again once (those few); a first sync, which may hold
# thousands, takes the digest it will be compared with.
_START = Prepared(
    "hs_actuals_start",
    f"""
    SELECT s.kind, {", ".join(f"s.{c}" for c in STATE_COLUMNS)},
           c.run_id, c.state, EXTRACT(EPOCH FROM now() - c.saved_at) AS age_s,
           CASE WHEN s.cursor IS NULL
                     OR EXISTS (SELECT 1 FROM time_entries WHERE account_id = :a
                                AND hold_reason IS NOT NULL)
                THEN ({HOLD_FACTS_SQL}) ELSE '' END AS digest,
           ARRAY(SELECT person_id FROM actuals_dirty_people WHERE account_id = :a) AS dirty,
           (SELECT backfill_id FROM backfills WHERE account_id = :a AND finished_at IS NULL
            LIMIT 1) AS backfill_id,
           EXISTS (SELECT 1 FROM processed_messages WHERE account_id = :a AND consumer = :consumer
                   AND message_id = :message) AS processed
    FROM (SELECT 1) AS one
    LEFT JOIN account_sync_state AS s ON s.account_id = :a AND s.kind = 'actuals'
    LEFT JOIN sync_checkpoints AS c ON c.account_id = :a AND c.scope = :scope
    """,
    {"a": "bigint", "scope": "text", "sync_off": "text", "consumer": "text", "message": "text"},
)
