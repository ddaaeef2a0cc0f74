"""An account whose token Harvest refuses: the console says it needs attention and why, the
dead letter shows its reason, a new token (checked first) makes it active, and a replay
finishes the work."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.integration.console.conftest import ADMIN
from tests.integration.console.pages import check_page
from tests.integration.console.support import account_row, connected

HARVEST_ID = 4_300_001


def test_a_refused_token_is_replaced_and_the_dead_letter_replayed(console, simulator, tab, run_worker):
    core = console.core
    account_id = connected(core, simulator, harvest_id=HARVEST_ID, token="pat-old-token")
    run_worker(("entities",), the_app=core)
    simulator.revoke(HARVEST_ID)

    t1 = tab()
    page = t1.page
    t1.sign_in(*ADMIN)
    t1.go(f"/accounts/{account_id}")
    page.get_by_role("button", name="Import people").click()
    card = page.locator('[data-account="acme"]')
    for _ in range(240):
        t1.go("/accounts")
        if card.locator(".badge-needs_attention").count():
            break
        page.wait_for_timeout(250)
    expect(card.locator(".attention")).to_contain_text("Harvest rejected the token (401)")
    check_page(t1, "accounts-needs-attention")

    t1.go("/dead-letters")
    letters = page.locator('[data-queue="entities"] tbody tr')
    expect(letters).to_have_count(1)
    expect(letters.first.locator(".reason")).to_contain_text("401")
    check_page(t1, "dead-letters")

    # A token Harvest refuses is not saved; the new one is checked, then replaces the old.
    t1.go("/accounts")
    card.get_by_role("link", name="Replace the token").click()
    expect(page).to_have_url(re.compile(rf"/accounts/{account_id}/token$"))
    check_page(t1, "replace-token")
    page.fill("#token", "pat-old-token")
    page.get_by_role("button", name="Check with Harvest and replace").click()
    expect(page.get_by_role("alert")).to_contain_text("Harvest did not accept this token")
    assert account_row(core, account_id)["status"] == "needs_attention"
    simulator.set_token(HARVEST_ID, "pat-new-token")
    page.fill("#token", "pat-new-token")
    page.get_by_role("button", name="Check with Harvest and replace").click()
    expect(page.get_by_role("status")).to_contain_text("Token replaced")
    assert account_row(core, account_id)["status"] == "active"

    # Replaying the dead letter imports the people after all.
    t1.go("/dead-letters")
    page.locator('[data-queue="entities"]').get_by_role("button", name="Replay all").click()
    expect(page.get_by_role("status")).to_contain_text("1 message(s) replayed to entities")
    t1.go("/accounts")
    for _ in range(240):
        if card.locator('tr[data-kind="people"] .last-success').text_content() != "never":
            break
        page.wait_for_timeout(250)
        t1.go("/accounts")
    expect(card.locator(".badge-active")).to_be_visible()
    t1.go("/dead-letters")
    expect(page.locator('[data-queue="entities"] tbody tr')).to_have_count(0)
