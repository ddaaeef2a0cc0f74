"""Weekly autofill of a large agency: every person scheduled on a project all week, no hours,
so each working day gets a zero. Through the admin command, RabbitMQ and an autofill worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.report import Section
from bench.sim import Agency
from bench.stack import Stack
from domain.autofill import last_finished_week, week_label

TARGET_S = 2.0


def measure(stack: Stack, agency: Agency) -> Section:
    section = Section("autofill", f"{agency.people:,} people x 5 working days, one assignment each")
    stack.prepare()
    entities_worker = stack.start_workers("entities", 1)
    stack.sync_entities()
    stack.stop_workers(entities_worker)
    monday = last_finished_week(datetime.now(UTC), "UTC")
    sunday = monday + timedelta(days=6)
    # Each person on one project, in their own role, the whole week (planning data is ours,
    # not Harvest's: written directly, as `admin assign` would one by one).
    with stack.engine.begin() as conn:
        conn.exec_driver_sql(
            f"""
            INSERT INTO assignments (account_id, person_id, project_id, role_id, start_date, end_date,
                                     minutes_per_day)
            SELECT p.account_id, p.id, pr.id, p.role_id, '{monday}', '{sunday}', 480
            FROM (SELECT *, row_number() OVER (ORDER BY id) AS n FROM people
                  WHERE account_id = {stack.account_id}) p
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n, count(*) OVER () AS total
                  FROM projects WHERE account_id = {stack.account_id}) pr ON pr.n = mod(p.n, pr.total)
            """
        )
    stack.start_workers("autofill", 1)
    run = stack.admin_sync("--what=autofill", f"--week={week_label(monday)}")
    zeros = run.counts.get("actuals.autofilled", 0)
    section.add("zeros written", f"{zeros:,}")
    section.add_run_time(run.seconds, TARGET_S)
    return section
