"""The console under test: its own database (cloned from a migrated template, so each test
starts from an empty one), the real server on a free port, and a real browser (Debian's
chromium driven by Playwright). Without chromium the browser tests skip locally, with one
reason; under CI=true they fail."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from harvest_sync.bootstrap import bootstrap
from infra.app import App
from infra.config import ConsoleSettings, Settings
from infra.db.engine import make_engine
from infra.db.migrate import upgrade
from producers.services.users import add_user

IN_CI = os.getenv("CI") == "true"
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_SKIPPED = pytest.StashKey[str]()
ADMIN = ("ada", "correct horse battery staple")
VIEWER = ("vic", "viewer sees all changes none")


@pytest.fixture(scope="session")
def console_template(server_database_url: str) -> Iterator[str]:
    """A migrated database that each test's database is copied from (CREATE ... TEMPLATE)."""
    server = make_url(server_database_url)
    name = f"hs_console_tpl_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(server.set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def console_db(server_database_url: str, console_template: str) -> Iterator[str]:
    server = make_url(server_database_url)
    name = f"hs_console_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{console_template}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def core(console_db: str, settings: Settings) -> Iterator[App]:
    """The App the console (and the workers of the test) run on: the integration tests'
    settings, on the console's own database."""
    console_settings = dataclasses.replace(settings, database_url=console_db, metrics_port=0)
    app = bootstrap(console_settings, engine=make_engine(console_db))
    yield app
    app.engine.dispose()


@dataclass
class Console:
    url: str
    core: App

    def path(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def console(core: App) -> Iterator[Console]:
    """The real console server (uvicorn) on a free port, in a thread of this process."""
    import uvicorn

    from producers.console.app import create_app

    add_user(core, ADMIN[0], "admin", ADMIN[1])
    add_user(core, VIEWER[0], "viewer", VIEWER[1])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(core, ConsoleSettings()), log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield Console(f"http://127.0.0.1:{sock.getsockname()[1]}", core)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Locally, without a browser, the browser tests are left out with one line of reason;
    under CI=true they stay, and fail."""
    reason = None if IN_CI else _missing_browser()
    left_out = [i for i in items if reason and "browser" in getattr(i, "fixturenames", ())]
    if left_out:
        items[:] = [i for i in items if i not in left_out]
        config.hook.pytest_deselected(items=left_out)
        config.stash[BROWSER_SKIPPED] = f"{len(left_out)} browser tests skipped: {reason}"


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if BROWSER_SKIPPED in config.stash:
        terminalreporter.write_line(config.stash[BROWSER_SKIPPED])


@pytest.fixture(scope="session")
def browser() -> Iterator:
    reason = _missing_browser()
    if reason is not None:
        pytest.fail(f"browser tests need a browser: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking"],
            headless=True,
        )
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A browser tab on the console, recording what a person would not want to see."""

    page: object
    console: Console
    shots: Path
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> None:
        self.page.goto(self.console.path(path))

    def sign_in(self, name: str, password: str) -> None:
        self.go("/login")
        self.page.fill("#name", name)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def tab(browser, console: Console, tmp_path: Path) -> Iterator[Callable[..., Tab]]:
    """Open browser tabs (each in a context of its own: its own cookies)."""
    contexts = []

    def open_tab(width: int = 1280, height: int = 860) -> Tab:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        t = Tab(page, console, tmp_path)
        page.on("dialog", lambda d: (t.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: t.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: t.errors.append(str(e)))
        return t

    yield open_tab
    for context in contexts:
        context.close()
