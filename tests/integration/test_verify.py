"""`admin verify` and the weekly check: Harvest's own time reports against the entries we hold,
shown in the CLI's output and exit status, in `admin status` and in a metric."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import sqlalchemy as sa
from click.testing import CliRunner

from domain.commands import SyncActuals
from harvest_sync.cli import main
from infra.db import tables as t
from infra.harvest.client import HarvestClient
from infra.harvest.ratelimit import SharedRateLimit
from infra.observability.database import DatabaseGauges
from tests.integration.actuals_support import countable_entry, sync_actuals


def _verify(env, account_id, *args: str):
    return CliRunner().invoke(main, ["admin", "verify", str(account_id), *args], env=env)


def test_after_a_sync_our_totals_are_harvests(env, synced, simulator):
    account_id, _store = synced
    simulator.reset_stats()
    result = _verify(env, account_id)
    assert result.exit_code == 0, result.output
    assert "no differences" in result.output
    # The projects and the team report, one piece each (less than a year of history).
    assert simulator.stats()["by_path"] == {"/v2/reports/time/projects": 1, "/v2/reports/time/team": 1}


def test_a_difference_is_printed_with_its_project_and_person_and_fails(env, synced, engine, app):
    account_id, store = synced
    entry = countable_entry(engine, account_id, store)
    project = next(p for p in store.list("projects") if p["id"] == entry["project"]["id"])
    store.update("projects", project["id"], {"name": "Site <b>\x1b[31mred</b>"})
    store.update("time_entries", entry["id"], {"hours": round(entry["hours"] + 1.5, 2)})
    result = _verify(env, account_id)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "Harvest " in line and "ours" in line]
    assert len(lines) == 2, result.output
    assert any(line.startswith(f"project {project['id']} ") and "(-1.50)" in line for line in lines)
    assert any(line.startswith(f"person {entry['user']['id']} ") for line in lines)
    assert "\x1b" not in result.output  # Harvest's names are untrusted: no escape sequences
    status = CliRunner().invoke(main, ["admin", "status", str(account_id)], env=env)
    assert "2 difference(s)" in status.output, status.output
    gauges = DatabaseGauges.for_engine(engine).collect()
    drift = next(f for f in gauges if f.name == "harvest_sync_verify_differences")
    assert {s.labels["account_id"]: s.value for s in drift.samples}[str(account_id)] == 2
    # Synced, we match again.
    sync_actuals(app, account_id)
    assert _verify(env, account_id).exit_code == 0


def test_a_range_is_checked_against_the_same_range(env, synced, engine):
    account_id, store = synced
    old = min(store.list("time_entries"), key=lambda e: e["spent_date"])
    store.update("time_entries", old["id"], {"hours": round(old["hours"] + 2, 2)})
    before = (date.fromisoformat(old["spent_date"]) - timedelta(days=1)).isoformat()
    assert _verify(env, account_id, "--to", before).exit_code == 0
    assert _verify(env, account_id, "--from", old["spent_date"], "--to", old["spent_date"]).exit_code == 1
    bad = _verify(env, account_id, "--from", "2026-02-01", "--to", "2026-01-01")
    assert bad.exit_code == 2 and "--to" in bad.output


def test_the_weekly_sync_verifies_and_keeps_the_result(app, synced, engine, env):
    account_id, store = synced
    entry = countable_entry(engine, account_id, store)
    store.update("time_entries", entry["id"], {"hours": round(entry["hours"] + 0.25, 2)})
    stats = app.handlers[SyncActuals](SyncActuals(account_id, "2026-12-01T00:30:00Z", verify=True))
    # Verified after syncing, under the same lock: the edit is in, nothing differs.
    assert stats["verify.differences"] == 0
    runs = t.verification_runs
    with engine.connect() as conn:
        source, differences = conn.execute(
            sa.select(runs.c.source, runs.c.differences).where(runs.c.account_id == account_id)
        ).one()
    assert (source, differences) == ("scheduled", 0)
    status = CliRunner().invoke(main, ["admin", "status", str(account_id)], env=env)
    assert "matches Harvest" in status.output


def test_reports_share_a_limit_of_their_own_and_get_no_429(simulator, engine):
    limit, window = 6, 2.0
    simulator.configure(
        rate_limit_enabled=True, reports_rate_limit_requests=limit, reports_rate_limit_window_s=window
    )
    simulator.add_account(account_id=5_550_009, token="rep-token", people=2, projects=1, clients=1, days=3)
    errors: list[Exception] = []

    def work():
        client = HarvestClient(
            simulator.base_url,
            token="rep-token",
            harvest_account_id=5_550_009,
            user_agent="verify-test (ops@example.com)",
            reports_throttle=SharedRateLimit(
                engine, 991_009, limit=limit, window_s=window, margin_s=0.3, bucket="reports"
            ),
            max_attempts=1,  # a 429 surfaces instead of being waited out
        )
        try:
            for _ in range(4):
                client.report("team", date(2025, 1, 1), date(2025, 12, 31))
                client.get("/company")  # the API's own limit is not spent by reports, nor theirs by it
        except Exception as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    stats = simulator.stats()
    assert stats["by_path"]["/v2/reports/time/team"] == 12 and stats["rate_limited"] == 0
    log = t.harvest_request_log
    with engine.connect() as conn:
        buckets = dict(
            conn.execute(
                sa.select(log.c.bucket, sa.func.count())
                .where(log.c.account_id == 991_009)
                .group_by(log.c.bucket)
            ).all()
        )
    assert set(buckets) == {"reports"}
