"""The progress bar: it follows the run's progress (the keys of the progress contract) while
the run goes, then the page reloads by itself and shows the new last sync date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from infra.db import tables as t
from tests.integration.console.conftest import ADMIN
from tests.integration.console.pages import check_page
from tests.integration.console.support import connected, import_entities

RUN = ".run[data-run-kind=actuals]"


def _entries_shown(page) -> int | None:
    loc = page.locator(f"{RUN} .entries")
    try:
        text = loc.text_content(timeout=200) if loc.count() else None
    except Exception:  # swapped out between count and read
        return None
    return int(text.replace(",", "")) if text else None


def test_a_real_actuals_run_moves_the_bar_and_finishes(console, simulator, tab, run_worker):
    core = console.core
    account_id = connected(core, simulator, harvest_id=4_200_001, token="pat-progress", people=50, days=120)
    entries = len(simulator.store(4_200_001).list("time_entries"))
    assert entries > 3 * 2000, "enough for several pages of Harvest's 2,000"
    run_worker(("entities", "time_entries"), the_app=core)
    import_entities(core, account_id)
    simulator.configure(slow_rate=1.0, slow_seconds=1.0)  # each page of entries takes a second

    t1 = tab()
    page = t1.page
    t1.sign_in(*ADMIN)
    t1.go(f"/accounts/{account_id}")
    page.get_by_role("button", name="Sync actuals", exact=True).click()
    expect(page.locator(RUN)).to_be_visible(timeout=10_000)
    check_page(t1, "run-in-progress")

    seen: list[int] = []
    last_success = page.locator('tr[data-kind="actuals"] .last-success')
    deadline = datetime.now(UTC) + timedelta(seconds=90)
    while last_success.text_content() == "never":
        assert datetime.now(UTC) < deadline, f"the run did not finish; the bar showed {seen}"
        shown = _entries_shown(page)
        if shown is not None and (not seen or shown != seen[-1]):
            seen.append(shown)
        page.wait_for_timeout(150)
    simulator.configure(slow_rate=0.0)

    assert seen == sorted(seen), f"the bar went back: {seen}"
    assert any(0 < n < entries for n in seen), f"never saw the run part-way: {seen}"
    assert len(set(seen)) >= 2, f"the bar did not move: {seen}"
    expect(page.locator(RUN)).to_have_count(0)  # reloaded: nothing running, a last sync date


def test_the_bar_shows_entries_of_total_the_rate_and_what_it_waits_on(console, simulator, tab):
    """The keys the time-entry consumer writes (entries, total_entries, at, waiting), as the
    contract gives them, drawn as they change."""
    core = console.core
    account_id = connected(core, simulator, harvest_id=4_200_002, token="pat-contract")
    started = datetime.now(UTC) - timedelta(seconds=10)
    with core.engine.begin() as conn:
        conn.execute(
            sa.insert(t.sync_runs).values(
                account_id=account_id,
                kind="actuals",
                message_id="contract-run",
                status="running",
                started_at=started,
                progress={"pages": 1, "entries": 1000, "total_entries": 4000, "at": started.isoformat()},
            )
        )

    def write(progress: dict) -> None:
        with core.engine.begin() as conn:
            conn.execute(
                sa.update(t.sync_runs)
                .where(t.sync_runs.c.message_id == "contract-run")
                .values(progress=progress)
            )

    write(
        {
            "pages": 1,
            "entries": 1000,
            "total_entries": 4000,
            "at": (started + timedelta(seconds=10)).isoformat(),
        }
    )
    t1 = tab()
    page = t1.page
    t1.sign_in(*ADMIN)
    bar = page.locator(f"{RUN} progress")
    expect(bar).to_have_attribute("value", "1000")
    expect(bar).to_have_attribute("max", "4000")
    expect(page.locator(f"{RUN} .run-figures")).to_contain_text("1,000 of 4,000 entries")
    expect(page.locator(f"{RUN} .rate")).to_have_text("100")  # 1,000 entries in 10 s
    check_page(t1, "progress-bar")

    at = started + timedelta(seconds=20)
    write(
        {
            "pages": 2,
            "entries": 3000,
            "total_entries": 4000,
            "at": at.isoformat(),
            "waiting": "rate limited, 4 s",
        }
    )
    expect(bar).to_have_attribute("value", "3000")
    expect(page.locator(f"{RUN} .rate")).to_have_text("150")
    expect(page.locator(RUN)).to_contain_text("rate limited, 4 s")
    expect(page.locator(RUN)).to_contain_text("about 7 s left")  # 1,000 to go at 150/s

    with core.engine.begin() as conn:
        conn.execute(
            sa.update(t.sync_runs)
            .where(t.sync_runs.c.message_id == "contract-run")
            .values(status="succeeded", finished_at=datetime.now(UTC))
        )
        conn.execute(
            sa.insert(t.account_sync_state).values(
                account_id=account_id,
                kind="actuals",
                last_success_at=datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
            )
        )
    expect(page.locator('tr[data-kind="actuals"] .last-success')).to_have_text("2026-11-30 09:15 UTC")
    expect(page.locator(RUN)).to_have_count(0)
