"""Actuals equal what Harvest says, exactly, through edits, moves, deletions and role changes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from harvest_sync.cli import main
from infra.db import tables as t
from infra.db.planning import PlanningRepository
from tests.integration.actuals_support import (
    countable_entry,
    known_people,
    log_beside,
    our_id,
    sync_actuals,
    sync_entities,
)
from tests.integration.truth import actual_rows, assert_actuals_match


def test_first_sync_imports_all_history(app, synced, engine):
    account_id, store = synced
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_every_kind_of_edit_is_picked_up(app, synced, engine):
    account_id, store = synced
    entries = store.list("time_entries")
    e1 = countable_entry(engine, account_id, store)
    e2 = countable_entry(engine, account_id, store, skip={e1["id"]})
    e3 = countable_entry(engine, account_id, store, skip={e1["id"], e2["id"]})
    e4 = countable_entry(engine, account_id, store, skip={e1["id"], e2["id"], e3["id"]})
    other_project = next(p["id"] for p in store.list("projects") if p["id"] != e1["project"]["id"])
    other_user = next(
        hid
        for hid, key in known_people(engine, account_id).items()
        if key != "unknown" and hid != e2["user"]["id"]
    )

    store.update("time_entries", e1["id"], {"hours": 3.33, "billable": not e1["billable"]})
    store.update("time_entries", e2["id"], {"project_id": other_project, "user_id": other_user})
    store.update("time_entries", e3["id"], {"spent_date": (date.today() - timedelta(days=400)).isoformat()})
    store.delete("time_entries", e4["id"])
    log_beside(store, e1, 0.5)
    stats = sync_actuals(app, account_id)

    assert stats["entries.deleted"] == 1
    assert_actuals_match(engine, account_id, store.list("time_entries"))
    assert len(store.list("time_entries")) == len(entries)


def test_edit_to_a_year_old_entry_is_picked_up(app, simulator, new_account, engine):
    # Given history older than Runn's 45-day horizon
    account_id, harvest_id = new_account(people=12, projects=4, clients=2, days=400, entries_per_day=1)
    store = simulator.store(harvest_id)
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    old = min(
        (
            e
            for e in store.list("time_entries")
            if known_people(engine, account_id).get(e["user"]["id"]) != "unknown"
        ),
        key=lambda e: e["spent_date"],
    )
    assert date.fromisoformat(old["spent_date"]) < date.today() - timedelta(days=300)
    # When it is edited and we sync
    store.update("time_entries", old["id"], {"hours": 7.77})
    sync_actuals(app, account_id)
    # Then the actual of that old day reflects it
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_role_change_moves_minutes_and_never_counts_them_twice(app, synced, engine):
    account_id, store = synced
    entry = countable_entry(engine, account_id, store)
    person = our_id(engine, account_id, "person", entry["user"]["id"])
    project = our_id(engine, account_id, "project", entry["project"]["id"])
    day = date.fromisoformat(entry["spent_date"])
    with engine.begin() as conn:
        repo = PlanningRepository(conn, account_id)
        repo.set_person_role(person, "Principal")
        repo.assign(
            person_id=person,
            project_id=project,
            role="Lead",
            start=day,
            end=day + timedelta(days=3),
            minutes_per_day=240,
        )
    sync_actuals(app, account_id)
    assert_actuals_match(engine, account_id, store.list("time_entries"))
    roles = {r: n for r, n in _role_names(engine, account_id).items()}
    rows = actual_rows(engine, account_id)
    assert any(k[0] == person and k[1] == project and roles[k[2]] == "Lead" for k in rows)

    # And when the assignment goes away, the minutes go back to the person's role, once.
    with engine.begin() as conn:
        repo = PlanningRepository(conn, account_id)
        for a in repo.assignments(person):
            repo.unassign(a["id"])
    sync_actuals(app, account_id)
    assert_actuals_match(engine, account_id, store.list("time_entries"))
    assert not any(roles[k[2]] == "Lead" for k in actual_rows(engine, account_id))


def _role_names(engine, account_id):
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(t.roles.c.id, t.roles.c.name).where(t.roles.c.account_id == account_id)
            ).all()
        )


def test_older_version_never_overwrites_a_newer_one(app, synced, engine):
    from collections import Counter

    from consumers.entry_apply import apply_page
    from infra.db.entry_store import EntryStore

    account_id, store = synced
    entry = countable_entry(engine, account_id, store)
    newer = store.update("time_entries", entry["id"], {"hours": 2.0})
    older = {**newer, "hours": 9.0, "updated_at": "2001-01-01T00:00:00Z"}
    with engine.begin() as conn:
        entries = EntryStore.open(conn, account_id)
        stats = Counter()
        apply_page(entries, [newer], stats)
        assert stats["entries.changed"] == 1
        # Out of order: the stale version arrives after the fresh one, and again in one batch.
        apply_page(entries, [older], stats)
        apply_page(entries, [older, newer], stats)
        assert stats["entries.changed"] == 1
        hours = conn.execute(
            sa.select(t.time_entries.c.hours).where(
                t.time_entries.c.account_id == account_id, t.time_entries.c.harvest_id == entry["id"]
            )
        ).scalar_one()
    assert float(hours) == 2.0
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_syncing_twice_with_no_change_changes_nothing(app, synced, engine):
    account_id, store = synced
    before = actual_rows(engine, account_id)
    stats = sync_actuals(app, account_id)
    assert stats.get("entries.changed", 0) <= sum(1 for e in store.list("time_entries") if e["is_running"])
    assert actual_rows(engine, account_id) == before


def test_interrupted_reconciliation_deletes_nothing(app, synced, engine, simulator):
    account_id, store = synced
    victim = countable_entry(engine, account_id, store)
    store.delete("time_entries", victim["id"])
    before = actual_rows(engine, account_id)

    class FailingOnReconcile:
        """Harvest dies part way through the reconciliation listing."""

        def __init__(self, inner):
            self.inner = inner

        def listing(self, path, collection, params=None, **options):
            if not {"updated_since", "is_running"} & set(params or {}):
                yield from []
                raise ConnectionError("Harvest went away mid-listing")
            yield from self.inner.listing(path, collection, params, **options)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    from harvest_sync.bootstrap import bootstrap

    broken = bootstrap(
        app.settings, engine=engine, harvest_factory=lambda a: FailingOnReconcile(app.harvest_for(a))
    )
    with pytest.raises(ConnectionError):
        sync_actuals(broken, account_id)
    assert actual_rows(engine, account_id) == before
    sync_actuals(app, account_id)
    assert actual_rows(engine, account_id) != before
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_the_next_daily_sync_finds_a_deletion_of_any_age(app, simulator, new_account, engine):
    account_id, harvest_id = new_account(people=12, projects=4, clients=2, days=200, entries_per_day=1)
    store = simulator.store(harvest_id)
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    people = known_people(engine, account_id)
    old = next(
        e
        for e in store.list("time_entries")
        if date.fromisoformat(e["spent_date"]) < date.today() - timedelta(days=90)
        and people.get(e["user"]["id"]) != "unknown"
    )
    store.delete("time_entries", old["id"])
    # Far beyond the 60 days the daily check used to cover; no full listing.
    daily = sync_actuals(app, account_id)
    assert daily["entries.deleted"] == 1 and daily.get("reconciled.full", 0) == 0
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_several_harvest_projects_count_toward_one_project(app, env, synced, engine):
    account_id, store = synced
    entry = countable_entry(engine, account_id, store)
    target = our_id(engine, account_id, "project", entry["project"]["id"])
    client_id = store.list("clients")[0]["id"]
    second = store.create("projects", {"name": "Same work, other Harvest project", "client_id": client_id})
    linked = CliRunner().invoke(
        main,
        ["admin", "link", str(account_id), "--project", str(target), "--harvest-id", str(second["id"])],
        env=env,
    )
    assert linked.exit_code == 0, linked.output
    store.create(
        "time_entries",
        {
            "user_id": entry["user"]["id"],
            "project_id": second["id"],
            "task_id": entry["task"]["id"],
            "spent_date": entry["spent_date"],
            "hours": 1.5,
        },
    )
    created = sync_entities(app, account_id)
    assert created.get("projects.created", 0) == 0
    sync_actuals(app, account_id)
    assert_actuals_match(engine, account_id, store.list("time_entries"))
    assert our_id(engine, account_id, "project", second["id"]) == target


def test_export_json_and_csv(app, env, synced, engine, tmp_path):
    account_id, store = synced
    runner = CliRunner()
    out = tmp_path / "export.json"
    result = runner.invoke(
        main, ["admin", "export", str(account_id), "--format", "json", "--output", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    import json

    doc = json.loads(out.read_text())
    assert (doc["format"], doc["version"]) == ("harvest-sync-export", 1)
    assert {h for p in doc["people"] for h in p["harvest_ids"]} == {u["id"] for u in store.list("users")}
    assert len(doc["actuals"]) == len(actual_rows(engine, account_id, autofilled=None))
    first_day = min(a["date"] for a in doc["actuals"])
    narrowed = runner.invoke(
        main, ["admin", "export", str(account_id), "--from", first_day, "--to", first_day], env=env
    )
    assert {a["date"] for a in json.loads(narrowed.output)["actuals"]} == {first_day}

    result = runner.invoke(
        main,
        ["admin", "export", str(account_id), "--format", "csv", "--output", str(tmp_path / "c")],
        env=env,
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "c" / "actuals.csv").read_text().splitlines()
    assert lines[0] == "person_id,project_id,role,date,billable_minutes,nonbillable_minutes,autofilled"
    assert len(lines) - 1 == len(doc["actuals"])


def test_admin_sync_actuals_through_the_broker(app, env, simulator, new_account, run_worker, engine):
    account_id, harvest_id = new_account()
    run_worker(("entities", "time_entries"))
    result = CliRunner().invoke(main, ["admin", "sync", str(account_id), "--what", "all", "--wait"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("run succeeded") == 2
    assert_actuals_match(engine, account_id, simulator.store(harvest_id).list("time_entries"))


def test_duplicate_and_out_of_order_batches_change_nothing(app, synced, engine):
    account_id, store = synced
    from collections import Counter

    from consumers.entry_apply import apply_page
    from infra.db.entry_store import EntryStore

    before = actual_rows(engine, account_id)
    entries = store.list("time_entries")
    pages = [entries[i : i + 25] for i in range(0, len(entries), 25)]
    # The same batches again, reversed and each twice, as redeliveries and overlapping pages.
    with engine.begin() as conn:
        repo = EntryStore.open(conn, account_id)
        for page in reversed(pages):
            apply_page(repo, page, Counter())
            apply_page(repo, page, Counter())
    assert actual_rows(engine, account_id) == before
    assert_actuals_match(engine, account_id, entries)


def test_same_actuals_command_delivered_twice_counts_once(app, simulator, new_account, run_worker, engine):
    from domain.commands import SyncActuals
    from tests.integration.helpers import eventually, run_status

    account_id, harvest_id = new_account()
    sync_entities(app, account_id)
    run_worker(("time_entries",))
    cmd = SyncActuals(account_id, "2026-11-26T00:00:00Z-dup")
    app.publish(cmd)
    app.publish(cmd)

    eventually(lambda: run_status(engine, account_id, cmd.message_id) == "succeeded", what="the actuals run")
    with engine.connect() as conn:
        inbox = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.processed_messages)
            .where(t.processed_messages.c.message_id == cmd.message_id)
        ).scalar_one()
    assert inbox == 1
    assert_actuals_match(engine, account_id, simulator.store(harvest_id).list("time_entries"))


def test_admin_status_shows_last_success_next_slot_and_errors(app, env, synced, engine):
    account_id, _ = synced
    result = CliRunner().invoke(main, ["admin", "status", str(account_id)], env=env)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.startswith("  ")}
    assert "last success never" not in lines["actuals"]
    assert "next 20" in lines["actuals"]
    assert "last success never" in lines["autofill"]
    listing = CliRunner().invoke(main, ["admin", "account", "list"], env=env)
    assert f"account {account_id} " in listing.output
    assert listing.output.count("  actuals ") >= 1 and "next 20" in listing.output
