"""Deletions are found by comparing counts: a day without change costs three requests, and a
deletion costs a few counts and the listing of a small span, never the whole window."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from harvest_sync.bootstrap import bootstrap
from harvest_sync.cli import main
from infra.db import tables as t
from tests.integration.actuals_support import countable_entry, log_beside, our_id, sync_actuals
from tests.integration.conftest import replace_settings
from tests.integration.truth import assert_actuals_match


class RecordingHarvest:
    """The real client, with every list and count request written down."""

    def __init__(self, inner, calls, after_updates_listed=None):
        self.inner, self.calls, self.after_updates_listed = inner, calls, after_updates_listed

    def count(self, path, params=None):
        self.calls.append(("count", dict(params or {})))
        return self.inner.count(path, params)

    def listing(self, path, collection, params=None, **options):
        self.calls.append(("list", dict(params or {})))
        yield from self.inner.listing(path, collection, params, **options)
        if params and "updated_since" in params and self.after_updates_listed:
            # Once: right after the listing of updates (a sync may list changes again later).
            self.after_updates_listed, act = None, self.after_updates_listed
            act()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def recording(app, engine, after_updates_listed=None):
    calls: list = []
    wired = bootstrap(
        app.settings,
        engine=engine,
        harvest_factory=lambda a: RecordingHarvest(app.harvest_for(a), calls, after_updates_listed),
    )
    return wired, calls


def test_a_day_without_change_costs_three_requests(app, synced, engine, simulator):
    account_id, _ = synced
    wired, calls = recording(app, engine)
    simulator.reset_stats()
    stats = sync_actuals(wired, account_id)
    assert simulator.stats()["requests"] == 3
    kinds = sorted((kind, tuple(sorted(params))) for kind, params in calls)
    # Harvest's count covers all history: no `from`, no `to`.
    assert kinds == [("count", ()), ("list", ("is_running",)), ("list", ("updated_since",))]
    assert stats["reconciled.by_counts"] == 1 and stats.get("deletions.spans_listed", 0) == 0


def test_a_deletion_is_narrowed_down_by_counts_before_anything_is_listed(app, synced, engine, simulator):
    account_id, store = synced
    window_entries = len(store.list("time_entries"))
    victim = countable_entry(engine, account_id, store)
    store.delete("time_entries", victim["id"])
    # Pages of 15: spans of at most 30 entries are listed, as 2,000-entry pages make them 4,000.
    wired, calls = recording(replace_settings(app, harvest_per_page=15), engine)
    stats = sync_actuals(wired, account_id)
    assert stats["entries.deleted"] == 1
    assert stats["deletions.spans_listed"] == 1
    assert stats["deletions.counts"] >= 3
    assert stats["deletions.entries_listed"] <= 30 < window_entries
    listed = [p for kind, p in calls if kind == "list" and "from" in p]
    assert len(listed) == 1 and listed[0]["from"] <= victim["spent_date"] <= listed[0].get("to", "9999")
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_an_entry_created_during_the_sync_cannot_hide_a_deletion(app, synced, engine):
    account_id, store = synced
    victim = countable_entry(engine, account_id, store)
    store.delete("time_entries", victim["id"])

    def someone_logs_time():
        # After the listing of updates: had Harvest counted only now, its count would
        # include this entry and equal ours, deletion and all.
        log_beside(store, victim, 1.5)

    wired, _ = recording(app, engine, after_updates_listed=someone_logs_time)
    stats = sync_actuals(wired, account_id)
    assert stats["entries.deleted"] == 1
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_an_entry_we_lost_is_stored_again(app, synced, engine):
    account_id, store = synced
    # One that the listing of updates does not return again.
    lost = min(store.list("time_entries"), key=lambda e: e["updated_at"])
    te = t.time_entries
    with engine.begin() as conn:
        conn.execute(sa.delete(te).where(te.c.account_id == account_id, te.c.harvest_id == lost["id"]))
    stats = sync_actuals(app, account_id)
    assert stats["deletions.spans_listed"] >= 1
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(te.c.account_id == account_id, te.c.harvest_id == lost["id"])
            ).scalar_one()
            == 1
        )
    assert_actuals_match(engine, account_id, store.list("time_entries"))


def test_an_entry_kept_for_a_sync_off_project_is_not_looked_for_again(app, env, synced, engine):
    account_id, store = synced
    kept = countable_entry(engine, account_id, store)
    project = our_id(engine, account_id, "project", kept["project"]["id"])
    tagged = CliRunner().invoke(
        main, ["admin", "tag", str(account_id), "--project", str(project), "--add", "sync_off"], env=env
    )
    assert tagged.exit_code == 0, tagged.output
    store.delete("time_entries", kept["id"])
    first = sync_actuals(app, account_id)
    assert first["deletions.spans_listed"] == 1 and first.get("entries.deleted", 0) == 0
    te = t.time_entries
    with engine.connect() as conn:
        marked = conn.execute(
            sa.select(te.c.harvest_deleted_at).where(
                te.c.account_id == account_id, te.c.harvest_id == kept["id"]
            )
        ).scalar_one()
    assert marked is not None
    again = sync_actuals(app, account_id)
    assert again.get("deletions.spans_listed", 0) == 0

    # Once the project syncs again, the full listing removes what Harvest deleted.
    untagged = CliRunner().invoke(
        main, ["admin", "tag", str(account_id), "--project", str(project), "--remove", "sync_off"], env=env
    )
    assert untagged.exit_code == 0, untagged.output
    full = sync_actuals(app, account_id, full=True)
    assert full["entries.deleted"] == 1
    assert_actuals_match(engine, account_id, store.list("time_entries"))
