"""Scheduler reads and slot claims. A slot row is inserted in the same transaction that
publishes its command, and committed only after the broker confirmed it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from domain.schedule import AccountSchedule, Slot
from infra.db import tables as t
from infra.db.bulk import copy_rows, temp_table


def schedulable_accounts(conn: sa.Connection) -> list[AccountSchedule]:
    """Accounts with the integration on: active (a token that needs attention waits for a fix)."""
    a = t.accounts
    rows = conn.execute(
        sa.select(
            a.c.id,
            a.c.timezone,
            a.c.import_clients_projects,
            a.c.import_people,
            a.c.import_actuals,
            a.c.autofill,
        )
        .where(a.c.status == "active")
        .order_by(a.c.id)
    )
    return [AccountSchedule(*r) for r in rows]


def published_since(conn: sa.Connection, since: datetime) -> set[tuple[int, str, datetime]]:
    s = t.scheduler_slots
    rows = conn.execute(sa.select(s.c.account_id, s.c.kind, s.c.slot_at).where(s.c.slot_at > since))
    return {(r[0], r[1], r[2]) for r in rows}


def claim(conn: sa.Connection, slots: Sequence[Slot]) -> set[tuple[int, str, datetime]]:
    """Insert slot rows; return the ones this transaction inserted. A concurrent scheduler's
    insert of the same slot waits for ours to commit or roll back, then does nothing or wins."""
    temp_table(conn, "slot_claims", "account_id bigint, kind text, slot_at timestamptz, message_id text")
    copy_rows(
        conn,
        "slot_claims",
        ("account_id", "kind", "slot_at", "message_id"),
        ((s.account_id, s.kind, s.at, s.command.message_id) for s in slots),
    )
    rows = conn.execute(
        sa.text(
            """
            INSERT INTO scheduler_slots (account_id, kind, slot_at, message_id)
            SELECT account_id, kind, slot_at, message_id FROM slot_claims
            ORDER BY account_id, kind, slot_at
            ON CONFLICT DO NOTHING
            RETURNING account_id, kind, slot_at
            """
        )
    )
    return {(r[0], r[1], r[2]) for r in rows}
