"""Nothing dropped silently: each hold reason lands in the ledger, and the first sync after the
cause is fixed imports the entry even though Harvest did not change it."""

from __future__ import annotations

from click.testing import CliRunner

from harvest_sync.cli import main
from tests.integration.actuals_support import (
    countable_entry,
    known_people,
    ledger,
    our_id,
    sync_actuals,
    sync_entities,
)
from tests.integration.truth import actual_rows, assert_actuals_match


def _entry(store, user_id, project_id, day, hours=1.25):
    # Harvest requires a task; a project made in the test has no task assignments of its own.
    task = store.list("time_entries")[0]["task"]["id"]
    fields = {
        "user_id": user_id,
        "project_id": project_id,
        "spent_date": day,
        "hours": hours,
        "task_id": task,
    }
    return store.create("time_entries", fields)


def test_person_not_imported_is_held_then_imported(app, synced, engine):
    account_id, store = synced
    sample = countable_entry(engine, account_id, store)
    newcomer = store.create("users", {"first_name": "New", "last_name": "Starter", "roles": ["Designer"]})
    held = _entry(store, newcomer["id"], sample["project"]["id"], sample["spent_date"])

    sync_actuals(app, account_id)
    assert ledger(engine, account_id)[held["id"]] == "person_not_imported"
    assert_actuals_match(engine, account_id, store.list("time_entries"))

    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    assert held["id"] not in ledger(engine, account_id)
    assert_actuals_match(engine, account_id, store.list("time_entries"))
    assert any(
        k[0] == our_id(engine, account_id, "person", newcomer["id"]) for k in actual_rows(engine, account_id)
    )


def test_project_not_imported_is_held_then_imported(app, synced, engine):
    account_id, store = synced
    sample = countable_entry(engine, account_id, store)
    project = store.create("projects", {"name": "Late project", "client_id": store.list("clients")[0]["id"]})
    held = _entry(store, sample["user"]["id"], project["id"], sample["spent_date"])

    sync_actuals(app, account_id)
    assert ledger(engine, account_id)[held["id"]] == "project_not_imported"
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    assert held["id"] not in ledger(engine, account_id)
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_unknown_role_is_held_until_the_role_is_set(app, env, synced, engine):
    account_id, store = synced
    sample = countable_entry(engine, account_id, store)
    torn = store.create(
        "users", {"first_name": "Two", "last_name": "Hats", "roles": ["Designer", "Developer"]}
    )
    sync_entities(app, account_id)
    assert known_people(engine, account_id)[torn["id"]] == "unknown"
    held = _entry(store, torn["id"], sample["project"]["id"], sample["spent_date"])

    sync_actuals(app, account_id)
    assert ledger(engine, account_id)[held["id"]] == "role_unknown"
    listing = CliRunner().invoke(main, ["admin", "ledger", str(account_id)], env=env)
    assert "role_unknown" in listing.output and str(held["id"]) in listing.output

    person = our_id(engine, account_id, "person", torn["id"])
    result = CliRunner().invoke(
        main, ["admin", "person", str(account_id), str(person), "--role", "Designer"], env=env
    )
    assert result.exit_code == 0, result.output
    sync_actuals(app, account_id)
    assert held["id"] not in ledger(engine, account_id)
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_sync_off_keeps_what_was_imported_and_holds_what_is_new(app, env, synced, engine):
    account_id, store = synced
    sample = countable_entry(engine, account_id, store)
    project = our_id(engine, account_id, "project", sample["project"]["id"])
    runner = CliRunner()
    tagged = runner.invoke(
        main, ["admin", "tag", str(account_id), "--project", str(project), "--add", "sync_off"], env=env
    )
    assert tagged.exit_code == 0, tagged.output
    before = {k: v for k, v in actual_rows(engine, account_id).items() if k[1] == project}
    assert before

    # When time on the ignored project is edited, added and deleted in Harvest
    store.update("time_entries", sample["id"], {"hours": 6.5})
    new = _entry(store, sample["user"]["id"], sample["project"]["id"], sample["spent_date"], hours=2)
    others = [
        e
        for e in store.list("time_entries")
        if e["project"]["id"] == sample["project"]["id"] and e["id"] != sample["id"] and e["id"] != new["id"]
    ]
    if others:
        store.delete("time_entries", others[0]["id"])
    sync_actuals(app, account_id, full=True)

    # Then the project's actuals stay exactly as imported before the tag
    assert {k: v for k, v in actual_rows(engine, account_id).items() if k[1] == project} == before
    held = ledger(engine, account_id)
    assert held[new["id"]] == "project_sync_off" and held[sample["id"]] == "project_sync_off"

    # And removing the tag imports what Harvest has now
    untagged = runner.invoke(
        main, ["admin", "tag", str(account_id), "--project", str(project), "--remove", "sync_off"], env=env
    )
    assert untagged.exit_code == 0
    sync_actuals(app, account_id, full=True)
    assert "project_sync_off" not in ledger(engine, account_id).values()
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_held_entries_are_looked_at_only_when_what_holds_them_changed(app, synced, engine, monkeypatch):
    from infra.db.time_entries import TimeEntryRepository

    account_id, store = synced
    assert set(ledger(engine, account_id).values()) == {"role_unknown"}
    real = TimeEntryRepository.held_ids
    reads: list[int] = []

    def counted(self):
        reads.append(1)
        return real(self)

    monkeypatch.setattr(TimeEntryRepository, "held_ids", counted)
    sync_actuals(app, account_id)
    sync_actuals(app, account_id)
    assert reads == []

    # A new person in Harvest may release entries held as person_not_imported: look again.
    store.create("users", {"first_name": "New", "last_name": "Starter", "roles": ["Designer"]})
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    assert reads == [1]


def test_with_nothing_held_a_daily_takes_no_digest_and_a_new_hold_is_looked_at_once(
    app, synced, engine, monkeypatch
) -> None:
    from infra.db.time_entries import TimeEntryRepository

    account_id, store = synced
    held = sorted(ledger(engine, account_id))
    entry = store.get("time_entries", held[0])
    unknown_role = (entry["user"]["id"], entry["project"]["id"], entry["spent_date"])
    for harvest_id in held:  # nothing held any more
        store.delete("time_entries", harvest_id)
    sync_actuals(app, account_id)
    assert ledger(engine, account_id) == {}
    sync_actuals(app, account_id)
    assert _hold_facts(engine, account_id) == ""  # no digest read: nothing it could release

    reads: list[int] = []
    real = TimeEntryRepository.held_ids

    def counted(self):  # type: ignore[no-untyped-def]
        reads.append(1)
        return real(self)

    monkeypatch.setattr(TimeEntryRepository, "held_ids", counted)
    _entry(store, *unknown_role)  # held again, by a daily
    sync_actuals(app, account_id)
    assert reads == [] and set(ledger(engine, account_id).values()) == {"role_unknown"}
    sync_actuals(app, account_id)  # the digest differs from '': the new hold is looked at once
    sync_actuals(app, account_id)
    assert reads == [1] and _hold_facts(engine, account_id) != ""


def _hold_facts(engine, account_id: int) -> str | None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT hold_facts FROM account_sync_state WHERE account_id = %(a)s AND kind = 'actuals'",
            {"a": account_id},
        ).scalar()
