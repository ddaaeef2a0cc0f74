"""Exact after every sync, whatever users do while we list: each hazard of page-numbered
listings and of our own clock, one test each. Pages of 10 entries make a small agency's
listings many pages long, as 2,000-entry pages make a large agency's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from domain.commands import BackfillPart
from infra.db import tables as t
from tests.integration.actuals_support import plan_first_sync_in_parts, sync_actuals, sync_entities
from tests.integration.conftest import replace_settings
from tests.integration.truth import assert_actuals_match, assert_entries_match

PER_PAGE = 10
# The first sync's main listing: neither changes (updated_since) nor running timers.
MAIN_LISTING = {"updated_since": False, "is_running": False}
CHANGES = {"updated_since": True}


@pytest.fixture
def agency(app, simulator, new_account):
    """An account with entities imported, and an App asking Harvest for pages of 10."""
    account_id, harvest_id = new_account(people=10, projects=4, clients=2, days=30, entries_per_day=1)
    sync_entities(app, account_id)
    small = replace_settings(app, harvest_per_page=PER_PAGE)
    return account_id, harvest_id, simulator.store(harvest_id), small


def _exact(engine, account_id, store) -> None:
    entries = store.list("time_entries")
    assert_entries_match(engine, account_id, entries)
    assert_actuals_match(engine, account_id, entries)


def _page(store, number: int) -> list[dict]:
    """Page `number` of the full listing, as Harvest pages it now."""
    return store.list("time_entries")[(number - 1) * PER_PAGE : number * PER_PAGE]


def test_rows_a_deletion_shifts_onto_a_page_already_read_are_not_lost(agency, simulator, engine):
    account_id, harvest_id, store, small = agency
    victim = _page(store, 1)[3]["id"]
    simulator.after_page(harvest_id, 2, lambda s: s.delete("time_entries", victim), match=MAIN_LISTING)
    stats = sync_actuals(small, account_id)
    # Counts alone cannot see it: the deleted row we hold and the skipped row we lack cancel.
    assert stats["listing.shifted_boundaries"] >= 1 and stats["listing.rounds"] >= 1
    _exact(engine, account_id, store)


def test_rows_shifted_by_a_deletion_and_a_creation_are_not_lost(agency, simulator, engine):
    account_id, harvest_id, store, small = agency
    victim = _page(store, 1)[2]
    oldest = store.list("time_entries")[-1]

    def meanwhile(s):
        # Harvest's count stays the same; only the new row's updated_at tells the pages moved.
        s.delete("time_entries", victim["id"])
        s.create(
            "time_entries",
            {
                "user_id": oldest["user"]["id"],
                "project_id": oldest["project"]["id"],
                "spent_date": (date.fromisoformat(oldest["spent_date"]) - timedelta(days=3)).isoformat(),
                "hours": 2.0,
            },
        )

    simulator.after_page(harvest_id, 2, meanwhile, match=MAIN_LISTING)
    stats = sync_actuals(small, account_id)
    assert stats["listing.shifted_boundaries"] >= 1
    _exact(engine, account_id, store)


def test_an_edit_made_while_a_first_sync_lists_is_in_its_result(agency, simulator, engine):
    account_id, harvest_id, store, small = agency
    read_already = _page(store, 1)[0]["id"]
    simulator.after_page(
        harvest_id, 3, lambda s: s.update("time_entries", read_already, {"hours": 4.75}), match=MAIN_LISTING
    )
    sync_actuals(small, account_id)
    _exact(engine, account_id, store)


def test_an_edit_skipped_by_a_shifting_listing_of_changes_is_not_lost(agency, simulator, engine):
    account_id, harvest_id, store, small = agency
    sync_actuals(small, account_id)
    # Every entry edited: the listing of changes takes many pages, and any row it skips is an
    # edit that no later listing returns.
    for entry in store.list("time_entries"):
        store.update("time_entries", entry["id"], {"hours": round(entry["hours"] + 0.5, 2)})
    since = _cursor(engine, account_id) - timedelta(minutes=5)
    # The edits are a minute old when the sync starts: its own last look cannot catch them.
    simulator.set_clock_offset(60)

    def move_the_newest_to_the_end(s):
        changed = [e for e in s.list("time_entries") if _stamp(e) > since]
        oldest = min(e["spent_date"] for e in changed)
        # Every later row moves up one: the first row of page 2 slides onto page 1.
        s.update(
            "time_entries",
            changed[0]["id"],
            {"spent_date": (date.fromisoformat(oldest) - timedelta(days=2)).isoformat()},
        )

    simulator.after_page(harvest_id, 1, move_the_newest_to_the_end, match=CHANGES, between_pages=True)
    stats = sync_actuals(small, account_id)
    assert stats["listing.shifted_boundaries"] >= 1
    _exact(engine, account_id, store)


def test_a_deletion_while_a_daily_sync_lists_is_in_its_result(agency, simulator, engine):
    account_id, harvest_id, store, small = agency
    sync_actuals(small, account_id)
    for entry in store.list("time_entries")[:25]:
        store.update("time_entries", entry["id"], {"billable": not entry["billable"]})
    old = store.list("time_entries")[-5]["id"]  # not among the changes being listed
    simulator.after_page(
        harvest_id, 1, lambda s: s.delete("time_entries", old), match=CHANGES, between_pages=True
    )
    stats = sync_actuals(small, account_id)
    assert stats["entries.deleted"] == 1
    _exact(engine, account_id, store)


@pytest.mark.parametrize("harvest_behind_s", [600, -600], ids=["ours-ahead", "ours-behind"])
def test_no_edit_is_lost_when_our_clock_is_not_harvests(
    app, simulator, new_account, engine, harvest_behind_s
):
    # Harvest's clock is 10 minutes off ours from the start: every stamp it makes is on it.
    simulator.set_clock_offset(-harvest_behind_s)
    account_id, harvest_id = new_account(people=10, projects=4, clients=2, days=30, entries_per_day=1)
    store = simulator.store(harvest_id)
    small = replace_settings(app, harvest_per_page=PER_PAGE)
    sync_entities(small, account_id)
    sync_actuals(small, account_id)
    sync_actuals(small, account_id)
    edited = store.list("time_entries")[7]
    store.update("time_entries", edited["id"], {"hours": round(edited["hours"] + 1.25, 2)})
    sync_actuals(small, account_id)
    _exact(engine, account_id, store)
    cursor = _cursor(engine, account_id)
    harvest_now = datetime.now(UTC) - timedelta(seconds=harvest_behind_s)
    assert abs((cursor - harvest_now).total_seconds()) < 120, "the cursor is not Harvest's time"


def test_every_backfill_part_survives_rows_shifting_under_it(agency, simulator, engine):
    account_id, harvest_id, store, small = agency
    parts = plan_first_sync_in_parts(small, account_id, len(store.list("time_entries")) // 3)
    assert len(parts) >= 3
    last = max(p.end for p in parts)
    for part in parts:
        # The last part lists from its start on, with no end (entries dated after the plan).
        listing = {"from": part.start, "to": part.end if part.end != last else False}
        in_part = [e for e in store.list("time_entries") if part.start <= e["spent_date"] <= part.end]
        victim = in_part[1]["id"]  # on the part's first page
        simulator.after_page(harvest_id, 2, lambda s, v=victim: s.delete("time_entries", v), match=listing)
    for part in parts:
        small.handlers[BackfillPart](part)
    assert all(hook.fired == 1 for hook in simulator.state.hooks.of(harvest_id))
    _exact(engine, account_id, store)


def _cursor(engine, account_id) -> datetime:
    s = t.account_sync_state
    with engine.connect() as conn:
        return conn.execute(
            sa.select(s.c.cursor).where(s.c.account_id == account_id, s.c.kind == "actuals")
        ).scalar_one()


def _stamp(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["updated_at"].replace("Z", "+00:00"))
