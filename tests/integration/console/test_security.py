"""Who may do what, and what never reaches a page: no page without a session, no change
without the CSRF token or as a viewer, Harvest's text shown as text under a CSP that runs no
inline script, and the token nowhere."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
import structlog
from playwright.sync_api import expect
from starlette.routing import Route

from infra.config import ConsoleSettings
from infra.db import tables as t
from producers.console.app import create_app
from tests.integration.console.conftest import ADMIN, VIEWER
from tests.integration.console.support import connected, import_entities

HARVEST_ID = 4_400_001
TOKEN = "pat-secret-5e1b77aa90c4"
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")

# Plausible forms for every action, so a refusal is the check's and not a missing field's.
FORMS = {
    "/login": {"name": ADMIN[0], "password": ADMIN[1]},
    "/accounts/new": {"name": "other", "harvest_account_id": str(HARVEST_ID), "token": TOKEN},
    "/accounts/{account_id}/settings": {"timezone": "Europe/Berlin", "working_days": "1", "run": "1"},
    "/accounts/{account_id}/import": {"what": "people"},
    "/accounts/{account_id}/token": {"token": TOKEN},
    "/accounts/{account_id}/projects/{project_id}/sync-off": {"sync_off": "on"},
    "/accounts/{account_id}/people/{person_id}/role": {"role": "Designer"},
    "/accounts/{account_id}/references": {"entity": "client:{client_id}", "harvest_id": "987654321"},
    "/dead-letters/replay": {"queue": "entities"},
    "/dead-letters/purge": {"queue": "entities"},
    "/logout": {},
}


@pytest.fixture
def scene(console, simulator, run_worker):
    """An account with its entities imported; ids to fill the routes' parameters with."""
    core = console.core
    account_id = connected(core, simulator, harvest_id=HARVEST_ID, token=TOKEN)
    run_worker(("entities",), the_app=core)
    import_entities(core, account_id)
    with core.engine.connect() as conn:
        ids = {
            "account_id": account_id,
            "project_id": conn.execute(sa.select(sa.func.min(t.projects.c.id))).scalar_one(),
            "person_id": conn.execute(sa.select(sa.func.min(t.people.c.id))).scalar_one(),
            "client_id": conn.execute(sa.select(sa.func.min(t.clients.c.id))).scalar_one(),
        }
    return ids


def _routes(console) -> list[Route]:
    web = create_app(console.core, ConsoleSettings())
    return [r for r in web.routes if isinstance(r, Route)]


def _fill(path: str, ids: dict) -> str:
    return PARAM.sub(lambda m: str(ids[m.group(1)]), path)


def _pages(console, ids) -> list[str]:
    public = ("/login", "/healthz")
    return [_fill(r.path, ids) for r in _routes(console) if "GET" in r.methods and r.path not in public]


def _actions(console) -> list[Route]:
    return [r for r in _routes(console) if "POST" in (r.methods or ())]


def _form(route: Route, ids: dict, **extra: str) -> dict:
    return {k: _fill(v, ids) for k, v in {**FORMS[PARAM.sub(r"{\1}", route.path)], **extra}.items()}


def _state(engine) -> tuple:
    """Everything an action could change."""
    with engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            for table in (t.accounts, t.people, t.projects, t.external_refs, t.sync_runs, t.console_users)
        )


def test_every_post_route_checks_the_csrf_token(console):
    # The action() wrapper is what checks it; a POST route made any other way would not.
    actions = _actions(console)
    assert len(actions) >= 10
    assert all(getattr(r, "is_action", False) for r in actions), [r.path for r in actions]
    assert {PARAM.sub(r"{\1}", r.path) for r in actions} == set(FORMS)


def test_every_page_without_a_session_leads_to_sign_in(console, scene, tab):
    t1 = tab()
    pages = _pages(console, scene)
    assert len(pages) >= 13
    for path in pages:
        response = t1.page.request.get(console.path(path), max_redirects=0)
        assert response.status == 303, path
        assert re.fullmatch(r"/login(\?next=.*)?", response.headers["location"]), path
    for route in _actions(console):
        if route.path != "/login":
            response = t1.page.request.post(console.path(_fill(route.path, scene)), form=_form(route, scene))
            assert response.status == 401, route.path
    # What a person sees: the sign-in form, and after it the page they asked for.
    t1.go(f"/accounts/{scene['account_id']}/ledger")
    expect(t1.page.get_by_role("heading", name="Sign in")).to_be_visible()
    t1.page.fill("#name", ADMIN[0])
    t1.page.fill("#password", ADMIN[1])
    t1.page.click("button[type=submit]")
    expect(t1.page).to_have_url(re.compile(rf"/accounts/{scene['account_id']}/ledger$"))


def test_a_post_without_the_csrf_token_is_refused(console, scene, tab):
    t1 = tab()
    t1.sign_in(*ADMIN)
    before = _state(console.core.engine)
    for route in _actions(console):
        response = t1.page.request.post(console.path(_fill(route.path, scene)), form=_form(route, scene))
        assert response.status == 403, route.path
        wrong = _form(route, scene, csrf_token="not-the-token")
        assert t1.page.request.post(console.path(_fill(route.path, scene)), form=wrong).status == 403
    assert _state(console.core.engine) == before
    # Still signed in (the sign-out was refused too), and with the token the same form works.
    t1.go(f"/accounts/{scene['account_id']}")
    token = t1.page.locator('meta[name="csrf-token"]').get_attribute("content")
    settings = next(r for r in _actions(console) if r.path.endswith("/settings"))
    form = {**_form(settings, scene), "csrf_token": token}
    form.pop("run")
    ok = t1.page.request.post(console.path(_fill(settings.path, scene)), form=form, max_redirects=0)
    assert ok.status == 303
    assert _state(console.core.engine) != before


def test_a_viewer_sees_everything_and_changes_nothing(console, scene, tab):
    t1 = tab()
    t1.sign_in(*VIEWER)
    for path in _pages(console, scene):
        response = t1.page.goto(console.path(path))
        _runs_no_inline_script(path, response.headers, t1.page.content())
        if path.endswith("/runs"):
            continue  # the live fragment of a page, not a page
        assert t1.page.locator("main").count() == 1, path
        # Every button that would change something is disabled or absent.
        live = t1.page.locator("main form button:not([disabled])")
        assert live.count() == 0, (path, live.all_inner_texts())
    expect(t1.page.get_by_role("link", name="Connect an account")).to_have_count(0)
    token = t1.page.locator('meta[name="csrf-token"]').get_attribute("content")
    before = _state(console.core.engine)
    for route in _actions(console):
        if route.path in ("/login", "/logout"):
            continue
        form = _form(route, scene, csrf_token=token)
        response = t1.page.request.post(console.path(_fill(route.path, scene)), form=form)
        assert response.status == 403, route.path
        assert "Viewers see everything and change nothing." in response.text()
    assert _state(console.core.engine) == before


def test_harvest_names_full_of_html_render_as_text(console, simulator, tab, run_worker):
    core = console.core
    account_id = connected(core, simulator, harvest_id=HARVEST_ID, token=TOKEN)
    store = simulator.store(HARVEST_ID)
    client = store.create("clients", {"name": "<script>alert(1)</script>"})
    store.create("projects", {"name": '<img src=x onerror="alert(2)">', "client_id": client["id"]})
    store.create(
        "users",
        {
            "first_name": "<b onmouseover=alert(3)>Bold</b>",
            "last_name": "Quote\"'",
            "roles": ["<svg onload=alert(4)>"],
        },
    )
    run_worker(("entities",), the_app=core)
    import_entities(core, account_id)
    t1 = tab()
    t1.sign_in(*ADMIN)
    page = t1.page
    for path, text in (
        ("clients", "<script>alert(1)</script>"),
        ("projects", '<img src=x onerror="alert(2)">'),
        ("people", "<b onmouseover=alert(3)>Bold</b> Quote\"'"),
        ("references", "<script>alert(1)</script>"),
    ):
        t1.go(f"/accounts/{account_id}/{path}")
        if path == "references":
            assert page.locator("#entity option", has_text="<script>alert(1)</script>").count() == 1
        else:
            expect(page.locator("td.name", has_text=text).first).to_be_visible()
        assert page.locator("main script, main img, main b, main svg:not(.chart svg)").count() == 0, path
        if page.locator("td.name").count():
            page.locator("td.name").first.hover()  # an onmouseover that got through would fire
    t1.go(f"/accounts/{account_id}/people")
    expect(page.get_by_text("<svg onload=alert(4)>")).to_be_visible()
    assert t1.dialogs == []
    assert page.evaluate("typeof window.alerted") == "undefined"


def _runs_no_inline_script(path: str, headers: dict, html: str) -> None:
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"{path}: an inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), f"{path}: an inline event handler"
    assert not re.search(r"\sstyle\s*=", html), f"{path}: an inline style"


def test_the_policy_stops_an_inline_script_that_got_into_a_page(console, tab):
    t1 = tab()
    t1.go("/login")
    t1.page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
        " document.body.appendChild(s); }"
    )
    assert t1.page.evaluate("typeof window.injected") == "undefined"
    assert any("Content Security Policy" in e for e in t1.errors)


def test_the_token_appears_nowhere(console, simulator, tab, run_worker):
    run_worker(("entities",), the_app=console.core)
    simulator.add_account(account_id=HARVEST_ID, token=TOKEN, seed=7, people=6, projects=4, clients=2, days=5)
    seen_urls: list[str] = []
    with structlog.testing.capture_logs() as logs:
        t1 = tab()
        t1.page.on("request", lambda r: seen_urls.append(r.url))
        bodies: list[str] = []
        t1.page.on(
            "response",
            lambda r: bodies.append(r.text()) if "text/html" in r.headers.get("content-type", "") else None,
        )
        t1.sign_in(*ADMIN)
        t1.go("/accounts/new")
        page = t1.page
        page.fill("#name", "acme")
        page.fill("#harvest_account_id", "999")  # the wrong account: refused, the form comes back
        page.fill("#token", TOKEN)
        page.get_by_role("button", name="Check with Harvest and connect").click()
        expect(page.get_by_role("alert")).to_be_visible()
        page.fill("#harvest_account_id", str(HARVEST_ID))
        page.fill("#token", TOKEN)
        page.get_by_role("button", name="Check with Harvest and connect").click()
        expect(page.get_by_role("status")).to_contain_text("Connected")
        with console.core.engine.connect() as conn:
            account_id = conn.execute(sa.select(t.accounts.c.id)).scalar_one()
        page.get_by_role("button", name="Import people").click()
        ids = {"account_id": account_id, "project_id": 1, "person_id": 1, "client_id": 1}
        for path in _pages(console, ids):
            html = page.request.get(console.path(path)).text()
            assert TOKEN not in html, path
            assert "<html" in html or path.endswith("/runs"), path
        t1.go(f"/accounts/{account_id}/token")
        page.fill("#token", "pat-refused-" + TOKEN)
        page.get_by_role("button", name="Check with Harvest and replace").click()
        expect(page.get_by_role("alert")).to_be_visible()
        assert TOKEN not in page.content()
    assert bodies and not [b for b in bodies if TOKEN in b]
    assert not [u for u in seen_urls if TOKEN in u]
    assert logs and not [e for e in logs if TOKEN in repr(e)]


def test_the_session_cookie_is_signed_http_only_lax_and_expires(console, scene, tab):
    import base64
    import json
    import time

    from itsdangerous import TimestampSigner

    from producers.console.security import SESSION_COOKIE, session_secret

    t1 = tab()
    t1.sign_in(*ADMIN)
    (cookie,) = [c for c in t1.page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert time.time() < cookie["expires"] <= time.time() + 8 * 3600 + 60

    signer = TimestampSigner(session_secret(console.core.settings.secret_keys))

    def forged(payload: dict) -> str:
        return signer.sign(base64.b64encode(json.dumps(payload).encode())).decode()

    user_id = json.loads(base64.b64decode(cookie["value"].split(".")[0]))["uid"]
    context = t1.page.context
    for value, signed_in in (
        (forged({"uid": user_id, "since": int(time.time()), "csrf": "x"}), True),  # the control
        (forged({"uid": user_id, "since": int(time.time()) - 9 * 3600, "csrf": "x"}), False),  # ended
        (cookie["value"][:-2] + "xx", False),  # tampered with
    ):
        context.clear_cookies()
        context.add_cookies([{**cookie, "value": value}])
        t1.go("/accounts")
        assert ("/login" not in t1.page.url) is signed_in, value
