"""Running syncs in-process (no broker) for the actuals scenarios, and reading results."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa

from domain.commands import BackfillPart, SyncActuals, SyncEntities
from harvest_sync.bootstrap import bootstrap
from infra.app import App
from infra.db import tables as t

ALL_ENTITIES = ("clients_projects", "people")


def _requested_at() -> str:
    # Unique per call: two syncs in the same microsecond must still be two commands.
    return f"{datetime.now(UTC).isoformat()}-{uuid.uuid4().hex[:6]}"


def sync_entities(app: App, account_id: int) -> dict:
    return dict(app.handlers[SyncEntities](SyncEntities(account_id, ALL_ENTITIES, _requested_at())))


def sync_actuals(app: App, account_id: int, *, full: bool = False) -> dict:
    return dict(app.handlers[SyncActuals](SyncActuals(account_id, _requested_at(), full)))


def plan_first_sync_in_parts(app: App, account_id: int, part_entries: int) -> list[BackfillPart]:
    """A first sync split into parts of about `part_entries`: the parts it would publish, to be
    handled in process (app.handlers[BackfillPart])."""
    parts: list[BackfillPart] = []
    split = replace(app.settings, backfill_part_entries=part_entries)
    planner = replace(bootstrap(split, engine=app.engine).handlers[SyncActuals], publish_many=parts.extend)
    planner(SyncActuals(account_id, _requested_at()))
    return parts


def our_id(engine: sa.Engine, account_id: int, entity_type: str, harvest_id: int) -> int:
    column = {"client": "client_id", "project": "project_id", "person": "person_id"}[entity_type]
    refs = t.external_refs
    with engine.connect() as conn:
        return conn.execute(
            sa.select(refs.c[column]).where(
                refs.c.account_id == account_id,
                refs.c.entity_type == entity_type,
                refs.c.harvest_id == harvest_id,
            )
        ).scalar_one()


def ledger(engine: sa.Engine, account_id: int) -> dict[int, str]:
    led = t.import_ledger
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(led.c.harvest_id, led.c.reason).where(
                    led.c.account_id == account_id, led.c.record_type == "time_entry"
                )
            ).all()
        )


def known_people(engine: sa.Engine, account_id: int) -> dict[int, str]:
    """Harvest user id -> role match key, for people we imported."""
    refs = t.external_refs
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(refs.c.harvest_id, t.roles.c.match_key)
                .join(t.people, t.people.c.id == refs.c.person_id)
                .join(t.roles, t.roles.c.id == t.people.c.role_id)
                .where(refs.c.account_id == account_id, refs.c.entity_type == "person")
            ).all()
        )


def log_beside(store, entry: dict, hours: float) -> dict:
    """Another Harvest entry of the same person, project and day: one more under its key."""
    return store.create(
        "time_entries",
        {
            "user_id": entry["user"]["id"],
            "project_id": entry["project"]["id"],
            "spent_date": entry["spent_date"],
            "hours": hours,
        },
    )


def countable_entry(engine, account_id, store, *, skip=()):
    """An entry whose person has a definite role, so it counts in actuals."""
    people = known_people(engine, account_id)
    for e in store.list("time_entries"):
        if (
            people.get(e["user"]["id"], "unknown") != "unknown"
            and e["id"] not in skip
            and not e["is_running"]
        ):
            return e
    raise AssertionError("the generated agency has no countable entry")
