"""Autofill against the database: zeros where scheduled days lack hours, replaced by real hours,
restored when those hours are deleted, and idempotent."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from click.testing import CliRunner

from domain.autofill import week_label
from domain.commands import AutofillWeek
from harvest_sync.cli import main
from infra.db import tables as t
from infra.db.autofill import AutofillRepository
from infra.db.planning import PlanningRepository
from tests.integration.actuals_support import our_id, sync_actuals, sync_entities


def _autofill(app, account_id, monday):
    cmd = AutofillWeek(
        account_id, week_label(monday), f"{datetime.now(UTC).isoformat()}-{uuid.uuid4().hex[:4]}"
    )
    return app.handlers[AutofillWeek](cmd)


def _rows(engine, account_id, person):
    a = t.actuals
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                a.c.date, a.c.billable_minutes, a.c.nonbillable_minutes, a.c.autofilled, a.c.updated_at
            ).where(a.c.account_id == account_id, a.c.person_id == person)
        ).all()
    return {r.date: (r.billable_minutes, r.nonbillable_minutes, r.autofilled) for r in rows}, rows


def test_autofill_rules_replacement_and_restoration(app, env, simulator, new_account, engine):
    # Given a person newly in Harvest, planned Tuesday to Sunday of a past week
    account_id, harvest_id = new_account(people=3, projects=2, clients=1, days=5, entries_per_day=1)
    store = simulator.store(harvest_id)
    user = store.create("users", {"first_name": "Auto", "last_name": "Fill", "roles": ["Designer"]})
    project = store.create("projects", {"name": "Planned", "client_id": store.list("clients")[0]["id"]})
    today = date.today()
    monday = today - timedelta(days=today.isoweekday() - 1) - timedelta(weeks=3)
    tue, wed, thu, fri = (monday + timedelta(days=i) for i in (1, 2, 3, 4))
    task = store.list("time_entries")[0]["task"]["id"]  # Harvest requires a task
    real = store.create(
        "time_entries",
        {
            "user_id": user["id"],
            "project_id": project["id"],
            "task_id": task,
            "spent_date": fri.isoformat(),
            "hours": 2,
        },
    )
    sync_entities(app, account_id)
    person = our_id(engine, account_id, "person", user["id"])
    ours = our_id(engine, account_id, "project", project["id"])
    with engine.begin() as conn:
        plan = PlanningRepository(conn, account_id)
        plan.assign(
            person_id=person,
            project_id=ours,
            role="Designer",
            start=tue,
            end=monday + timedelta(days=6),
            minutes_per_day=300,
        )
        role = plan.role_id("Designer")
        AutofillRepository(conn, account_id).add_time_off(person, thu, thu)
        conn.execute(  # an existing zero, entered by hand
            sa.insert(t.actuals).values(
                account_id=account_id,
                person_id=person,
                project_id=ours,
                role_id=role,
                date=wed,
                billable_minutes=0,
                nonbillable_minutes=0,
            )
        )
    sync_actuals(app, account_id)

    # When the week is autofilled
    assert _autofill(app, account_id, monday)["actuals.autofilled"] == 1
    days, rows = _rows(engine, account_id, person)
    # Then only Tuesday got a zero: Monday unplanned, Wednesday had one, Thursday off,
    # Friday has hours, and the weekend is not a working day.
    assert days == {tue: (0, 0, True), wed: (0, 0, False), fri: (120, 0, False)}

    # Autofilling the same week again changes nothing
    assert _autofill(app, account_id, monday)["actuals.autofilled"] == 0
    assert _rows(engine, account_id, person)[1] == rows

    # Real hours arriving later replace the zero, which is no longer autofilled
    late = store.create(
        "time_entries",
        {
            "user_id": user["id"],
            "project_id": project["id"],
            "task_id": task,
            "spent_date": tue.isoformat(),
            "hours": 1,
        },
    )
    sync_actuals(app, account_id)
    assert _rows(engine, account_id, person)[0][tue] == (60, 0, False)

    # And deleting them in Harvest brings the autofilled zero back. Friday too: in an autofilled
    # week, a scheduled working day whose hours vanish looks as autofill would have left it.
    store.delete("time_entries", late["id"])
    store.delete("time_entries", real["id"])
    sync_actuals(app, account_id, full=True)
    days, _ = _rows(engine, account_id, person)
    assert days == {tue: (0, 0, True), wed: (0, 0, False), fri: (0, 0, True)}

    # By hand, through the broker-free CLI path: a bad week is refused in one line
    bad = CliRunner().invoke(
        main, ["admin", "sync", str(account_id), "--what", "autofill", "--week", "2026-47"], env=env
    )
    assert bad.exit_code != 0 and "2026-W47" in bad.output


def test_autofill_off_writes_nothing(app, env, new_account, engine):
    account_id, _ = new_account(people=2, projects=1, clients=1, days=3)
    result = CliRunner().invoke(
        main, ["admin", "account", "set", str(account_id), "--autofill", "off"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "autofill=off" in result.output
    stats = _autofill(app, account_id, date(2026, 11, 16))
    assert stats["skipped.autofill_off"] == 1


def test_autofill_by_hand_through_the_broker(app, env, new_account, run_worker, engine):
    account_id, _ = new_account(people=2, projects=1, clients=1, days=3)
    run_worker(("autofill",))
    result = CliRunner().invoke(
        main,
        ["admin", "sync", str(account_id), "--what", "autofill", "--week", "2026-W47", "--wait"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "run succeeded" in result.output
    with engine.connect() as conn:
        weeks = (
            conn.execute(
                sa.select(t.autofill_weeks.c.week_start).where(t.autofill_weeks.c.account_id == account_id)
            )
            .scalars()
            .all()
        )
    assert weeks == [date(2026, 11, 16)]
