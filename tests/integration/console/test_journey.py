"""A new user's path, in a real browser against the real console, PostgreSQL, RabbitMQ,
workers and the simulated Harvest: sign in, connect an account (a wrong token first), import
clients, projects and people and see them, fix the Unknown roles, sync actuals and see the
held entries leave the ledger, link an external reference. Every main page is checked and
photographed on the way."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from domain.commands import SyncActuals
from infra.db import tables as t
from tests.integration.console.conftest import ADMIN
from tests.integration.console.pages import check_page

HARVEST_ID = 4_100_001
TOKEN = "pat-journey-7d1f0c9e5b"
WAIT_MS = 60_000


def _count(engine, table, account_id=None) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    if account_id is not None:
        query = query.where(table.c.account_id == account_id)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def _held(engine, account_id, reason) -> int:
    led = t.import_ledger
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(led.c.account_id == account_id, led.c.reason == reason)
        ).scalar_one()


def _last_success(page, kind):
    return page.locator(f'[data-account="acme"] tr[data-kind="{kind}"] .last-success')


def test_from_an_empty_database_to_actuals(console, simulator, tab, run_worker):
    store = simulator.add_account(
        account_id=HARVEST_ID,
        token=TOKEN,
        seed=7,
        people=12,
        projects=8,
        clients=4,
        days=10,
        entries_per_day=2,
    )
    run_worker(("entities", "time_entries"), the_app=console.core)
    engine = console.core.engine
    t1 = tab()
    page = t1.page

    # Signing in: any page leads to the sign-in form first.
    t1.go("/accounts")
    expect(page).to_have_url(re.compile(r"/login"))
    check_page(t1, "login")
    t1.sign_in(*ADMIN)
    expect(page.get_by_role("heading", name="No account yet")).to_be_visible()
    check_page(t1, "accounts-empty")

    # Connect: a wrong token is refused on the form and nothing is stored.
    page.get_by_role("link", name="Connect an account").first.click()
    page.fill("#name", "acme")
    page.fill("#harvest_account_id", str(HARVEST_ID))
    page.fill("#token", "pat-wrong-token-0000")
    page.get_by_role("button", name="Check with Harvest and connect").click()
    expect(page.get_by_role("alert")).to_contain_text("Harvest did not accept this token")
    assert _count(engine, t.accounts) == 0
    assert "pat-wrong-token-0000" not in page.content()
    expect(page.locator("#token")).to_have_value("")
    expect(page.locator("#name")).to_have_value("acme")
    check_page(t1, "connect-refused")

    # ... and the right one connects.
    page.fill("#token", TOKEN)
    page.get_by_role("button", name="Check with Harvest and connect").click()
    expect(page.get_by_role("status")).to_contain_text("Connected to")
    with engine.connect() as conn:
        (account_id, sealed) = conn.execute(sa.select(t.accounts.c.id, t.accounts.c.token_sealed)).one()
    assert TOKEN.encode() not in bytes(sealed)
    expect(page.locator(".token-state")).to_contain_text("Token set 20")
    check_page(t1, "settings")

    # The seed's first step: clients, projects and people only, then Save and run.
    page.get_by_label("Sync actuals (timesheets)").uncheck()
    page.get_by_role("button", name="Save and run").click()
    expect(page.get_by_role("status")).to_contain_text("imports are running")
    # The page reloads by itself when the run ends, showing the last sync date.
    expect(_last_success(page, "people")).not_to_have_text("never", timeout=WAIT_MS)
    expect(_last_success(page, "clients_projects")).not_to_have_text("never")
    expect(_last_success(page, "actuals")).to_have_text("never")
    check_page(t1, "accounts")

    # See what was imported: every Harvest client, project and person, by name.
    base = f"/accounts/{account_id}"
    for path, names in (
        ("/clients", [c["name"] for c in store.list("clients")]),
        ("/projects", [p["name"] for p in store.list("projects")]),
        ("/people", [f"{u['first_name']} {u['last_name']}" for u in store.list("users")]),
    ):
        t1.go(base + path)
        for name in names:
            expect(page.locator("td.name", has_text=name).first).to_be_visible()
        check_page(t1, path.strip("/"))

    # sync_off on a project: its new time is ignored from the next actuals sync, and back.
    t1.go(base + "/projects")
    project = int(page.locator("tr[data-project]").first.get_attribute("data-project"))
    row = page.locator(f'tr[data-project="{project}"]')
    row.get_by_role("button", name="Turn sync off").click()
    expect(page.get_by_role("status")).to_contain_text(f"Project {project} ignores its new time (sync_off)")
    expect(row.locator(".pill", has_text="sync_off")).to_be_visible()
    assert _tags(engine, project) == ["sync_off"]
    row.get_by_role("button", name="Turn sync on").click()
    expect(page.get_by_role("status")).to_contain_text(f"Project {project} syncs again")
    assert _tags(engine, project) == []

    # "Import from Harvest" on a list brings what is new in Harvest.
    newcomer = store.create("clients", {"name": "Newly Signed Ltd"})
    t1.go(base + "/clients")
    page.get_by_role("button", name="Import from Harvest").click()
    expect(page.get_by_role("status")).to_contain_text("Import of clients and projects started")
    _reload_until(page, lambda: page.locator("td.name", has_text="Newly Signed Ltd").count() == 1)
    assert newcomer["id"]

    # Actuals on: entries of people whose role is Unknown are held.
    t1.go(base)
    page.get_by_label("Sync actuals (timesheets)").check()
    page.get_by_role("button", name="Save and run").click()
    expect(_last_success(page, "actuals")).not_to_have_text("never", timeout=WAIT_MS)
    held = _held(engine, account_id, "role_unknown")
    assert held > 0
    t1.go(base + "/ledger")
    expect(page.locator('table.ledger[data-reason="role_unknown"]')).to_be_visible()
    check_page(t1, "ledger")

    # Fix each Unknown: their Harvest roles are shown, a role is picked.
    t1.go(base + "/people/unknown")
    rows = page.locator("tr[data-person]")
    assert rows.count() == 2
    check_page(t1, "unknown-roles")
    for _ in range(rows.count()):
        row = page.locator("tr[data-person]").first
        row.locator("input[name=role]").fill("Designer")
        row.get_by_role("button", name="Set role").click()
        expect(page.get_by_role("status").first).to_contain_text("now has the role Designer")
    expect(
        page.get_by_text(f"Every role is set. The {held} held entries import at the next actuals sync")
    ).to_be_visible()
    check_page(t1, "unknown-roles-fixed")

    # The next actuals sync imports them: they leave the ledger.
    page.get_by_role("button", name="Sync actuals now").click()
    _reload_until(page, lambda: _held(engine, account_id, "role_unknown") == 0)
    t1.go(base + "/ledger")
    expect(page.locator('table.ledger[data-reason="role_unknown"]')).to_have_count(0)

    # A project's actuals: a weekly chart and the same data as a table.
    project_id = _busiest_project(engine, account_id)
    t1.go(f"{base}/projects/{project_id}/actuals")
    bars = page.locator("svg g.week")
    weeks = page.locator("table.weeks tbody tr")
    assert bars.count() == weeks.count() > 0
    expect(page.get_by_text("Harvest's time report for")).to_have_count(0)  # no check has run yet
    # Once the weekly check against Harvest's own reports has run, the page shows it.
    console.core.handlers[SyncActuals](SyncActuals(account_id, "weekly-check", verify=True))
    page.reload()
    expect(page.get_by_text("Harvest's time report for")).to_contain_text("they match")
    check_page(t1, "project-actuals")

    # An external reference: a Harvest id linked by hand to a client we already have.
    twin = store.create("clients", {"name": "Twin Co in Harvest"})
    with engine.connect() as conn:
        ours, other = conn.execute(
            sa.select(t.clients.c.id)
            .where(t.clients.c.account_id == account_id)
            .order_by(t.clients.c.id)
            .limit(2)
        ).scalars()
    t1.go(base + "/references")
    page.select_option("#entity", f"client:{ours}")
    page.fill("#harvest_id", str(twin["id"]))
    page.get_by_role("button", name="Link").click()
    expect(page.get_by_role("status")).to_contain_text(f"linked to Harvest id {twin['id']}")
    check_page(t1, "references")
    # The same id for another client is refused with the CLI's message.
    page.select_option("#entity", f"client:{other}")
    page.fill("#harvest_id", str(twin["id"]))
    page.get_by_role("button", name="Link").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"Harvest client id {twin['id']} is already linked to client {ours}"
    )
    # ... and an import finds the twin instead of duplicating it.
    clients_before = _count(engine, t.clients, account_id)
    t1.go(base + "/clients")
    page.get_by_role("button", name="Import from Harvest").click()
    _reload_until(page, lambda: _last_entity_run_done(engine, account_id))
    assert _count(engine, t.clients, account_id) == clients_before
    expect(page.locator("td.name", has_text="Twin Co in Harvest")).to_have_count(0)

    # Nowhere along the way did the token reach a page.
    assert TOKEN not in page.content()


def _tags(engine, project_id) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.select(t.projects.c.tags).where(t.projects.c.id == project_id)).scalar_one()


def _busiest_project(engine, account_id) -> int:
    a = t.actuals
    with engine.connect() as conn:
        return conn.execute(
            sa.select(a.c.project_id)
            .where(a.c.account_id == account_id)
            .group_by(a.c.project_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).scalar_one()


def _last_entity_run_done(engine, account_id) -> bool:
    r = t.sync_runs
    with engine.connect() as conn:
        status = conn.execute(
            sa.select(r.c.status)
            .where(r.c.account_id == account_id, r.c.kind.like("clients%"))
            .order_by(r.c.id.desc())
            .limit(1)
        ).scalar()
    return status == "succeeded"


def _reload_until(page, condition, timeout_s: float = 60) -> None:
    """Reload the page until `condition()` holds (what a person pressing F5 would do)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        page.wait_for_timeout(250)
        page.reload()
