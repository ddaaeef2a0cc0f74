"""`harvest-sync migrate`: bring the schema to the newest revision. Safe to run twice, or from
two pods at once (an advisory lock serialises concurrent runs)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: it only has to differ from the other advisory-lock classes we use.
MIGRATION_LOCK = 7_401_000


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.ProgrammingError:
            return None


def head_revision() -> str:
    """The newest revision this version of the code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None
    return head


def revision_is_behind(current: str | None) -> bool:
    """True if a database at ``current`` lacks migrations this code needs.

    A revision this code does not know is newer (migrations are additive and run before a
    rollout), so it is not behind.
    """
    from alembic.script import ScriptDirectory

    if current is None:
        return True
    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    try:
        known = script.get_revision(current) is not None
    except Exception:  # alembic's "no such revision": a newer database
        return False
    return known and current != script.get_current_head()
