"""actuals' references to people, projects and roles without foreign keys (migration 0012):
what the keys gave is kept by statement triggers. Deleting a person or a project deletes
its actuals (only its own, only in its account), deleting a role actuals use is refused as
a foreign-key violation, an account still goes with everything, and a delete waits for a
sync holding the account row (and a sync for a delete), so no actual is left pointing at a
deleted row. Rows are written here in SQL, as the other tools sharing the database would."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg2.errors
import pytest
import sqlalchemy as sa
from alembic import command

from infra.db.engine import make_engine
from infra.db.migrate import alembic_config, upgrade
from tests.integration.helpers import eventually, new_database

pytestmark = pytest.mark.integration

# What a sync holds its account by while it writes (AccountRepository.hold).
HOLD = sa.text("SELECT 1 FROM accounts WHERE id = :a FOR KEY SHARE")
ACTUALS_KEYS = sa.text(
    "SELECT conname FROM pg_constraint WHERE conrelid = 'actuals'::regclass AND contype = 'f'"
    " AND conparentid = 0 ORDER BY conname"
)
REPLACED_KEYS = [
    "actuals_account_id_person_id_fkey",
    "actuals_account_id_project_id_fkey",
    "actuals_account_id_role_id_fkey",
]


@dataclass(frozen=True)
class Account:
    """An account with two roles (one only actuals use), two people, two projects and an
    actual for every person and project on two days. Ids are chosen, not drawn, so that two
    accounts can hold rows of the same ids and a trigger keyed on the id alone would show."""

    id: int
    people: tuple[int, int]
    projects: tuple[int, int]
    roles: tuple[int, int]  # (the people's, one only the actuals use)


def make_account(conn: sa.Connection, base: int) -> Account:
    account = conn.execute(
        sa.text(
            "INSERT INTO accounts (name, harvest_account_id, token_sealed)"
            " VALUES (:n, 1, '\\x00') RETURNING id"
        ),
        {"n": f"refs-{uuid.uuid4().hex[:10]}"},
    ).scalar_one()
    acct = Account(account, (base + 1, base + 2), (base + 11, base + 12), (base + 21, base + 22))
    p = {"a": account}
    for role in acct.roles:
        conn.execute(
            sa.text("INSERT INTO roles (id, account_id, name, match_key) VALUES (:id, :a, :n, :n)"),
            {**p, "id": role, "n": f"r{role}"},
        )
    for project in acct.projects:
        conn.execute(
            sa.text(
                "INSERT INTO projects (id, account_id, name, project_type)"
                " VALUES (:id, :a, 'P', 'non_billable')"
            ),
            {**p, "id": project},
        )
    for person in acct.people:
        conn.execute(
            sa.text(
                "INSERT INTO people (id, account_id, first_name, last_name, role_id)"
                " VALUES (:id, :a, 'F', 'L', :r)"
            ),
            {**p, "id": person, "r": acct.roles[0]},
        )
    conn.execute(
        sa.text(
            "INSERT INTO actuals (account_id, person_id, project_id, role_id, date, billable_minutes)"
            " SELECT :a, person, project, :r, DATE '2026-01-05' + d, 60"
            " FROM unnest(CAST(:people AS bigint[])) person, unnest(CAST(:projects AS bigint[])) project,"
            " generate_series(0, 1) d"
        ),
        {**p, "r": acct.roles[1], "people": list(acct.people), "projects": list(acct.projects)},
    )
    return acct


@pytest.fixture
def accounts(engine: sa.Engine) -> Iterator[tuple[Account, Account]]:
    """Two accounts whose people, projects and roles have the same ids; deleted afterwards."""
    base = 9_000_000_000 + uuid.uuid4().int % 1_000_000 * 100
    with engine.begin() as conn:
        pair = make_account(conn, base), make_account(conn, base)
    yield pair
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM accounts WHERE id = ANY(:ids)"), {"ids": [a.id for a in pair]})


def actuals_of(engine: sa.Engine, account: Account) -> set[tuple[int, int]]:
    """(person, project) of the account's actuals."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT DISTINCT person_id, project_id FROM actuals WHERE account_id = :a"),
            {"a": account.id},
        )
        return {(person, project) for person, project in rows}


def every_pair(account: Account) -> set[tuple[int, int]]:
    return {(person, project) for person in account.people for project in account.projects}


def test_the_keys_are_gone_from_actuals(engine):
    with engine.connect() as conn:
        assert conn.execute(ACTUALS_KEYS).scalars().all() == []


def test_deleting_a_person_deletes_their_actuals_only_in_their_account(engine, accounts):
    a, b = accounts
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM people WHERE account_id = :a AND id = :p"), {"a": a.id, "p": a.people[0]}
        )
    assert actuals_of(engine, a) == {(a.people[1], project) for project in a.projects}
    assert actuals_of(engine, b) == every_pair(b)  # the same person id, another account


def test_deleting_a_project_deletes_its_actuals_only_in_its_account(engine, accounts):
    a, b = accounts
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM projects WHERE account_id = :a AND id = :p"), {"a": a.id, "p": a.projects[1]}
        )
    assert actuals_of(engine, a) == {(person, a.projects[0]) for person in a.people}
    assert actuals_of(engine, b) == every_pair(b)


def test_deleting_people_of_two_accounts_in_one_statement(engine, accounts):
    a, b = accounts
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM people WHERE id = :p"), {"p": a.people[0]})
    assert actuals_of(engine, a) == {(a.people[1], project) for project in a.projects}
    assert actuals_of(engine, b) == {(b.people[1], project) for project in b.projects}


def test_deleting_a_role_actuals_use_is_refused(engine, accounts):
    a, _b = accounts
    with pytest.raises(sa.exc.IntegrityError) as refused, engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM roles WHERE account_id = :a AND id = :r"), {"a": a.id, "r": a.roles[1]}
        )
    error = refused.value.orig
    assert isinstance(error, psycopg2.errors.ForeignKeyViolation)
    assert error.diag.table_name == "actuals"
    assert f"({a.id}, {a.roles[1]})" in (error.diag.message_detail or "")
    assert actuals_of(engine, a) == every_pair(a)


def test_a_role_no_actual_uses_can_go(engine, accounts):
    a, b = accounts
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM actuals WHERE account_id = :a"), {"a": a.id})
        # The role of b's actuals has the same id: it does not keep a's.
        conn.execute(
            sa.text("DELETE FROM roles WHERE account_id = :a AND id = :r"), {"a": a.id, "r": a.roles[1]}
        )
        # NO ACTION, as the key was: a statement that takes the role's actuals with it may
        # delete the role.
        conn.execute(
            sa.text(
                "WITH moved AS (DELETE FROM actuals WHERE account_id = :b AND role_id = :r)"
                " DELETE FROM roles WHERE account_id = :b AND id = :r"
            ),
            {"b": b.id, "r": b.roles[1]},
        )
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT account_id, id FROM roles WHERE account_id = ANY(:ids) ORDER BY 1, 2"),
            {"ids": [a.id, b.id]},
        )
        assert [tuple(row) for row in left] == [(a.id, a.roles[0]), (b.id, b.roles[0])]


def test_the_peoples_role_is_still_kept_by_its_key(engine, accounts):
    a, _b = accounts
    with pytest.raises(sa.exc.IntegrityError) as refused, engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM actuals WHERE account_id = :a"), {"a": a.id})
        conn.execute(
            sa.text("DELETE FROM roles WHERE account_id = :a AND id = :r"), {"a": a.id, "r": a.roles[0]}
        )
    assert isinstance(refused.value.orig, psycopg2.errors.ForeignKeyViolation)


@pytest.mark.parametrize(
    ("table", "which"), [("people", "people"), ("projects", "projects"), ("roles", "roles")]
)
def test_changing_a_key_actuals_use_is_refused(engine, accounts, table, which):
    a, _b = accounts
    used = {"people": a.people[0], "projects": a.projects[0], "roles": a.roles[1]}[which]
    with pytest.raises(sa.exc.IntegrityError) as refused, engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {table} SET id = id + 50 WHERE account_id = :a AND id = :id"),
            {"a": a.id, "id": used},
        )
    assert isinstance(refused.value.orig, psycopg2.errors.ForeignKeyViolation)
    assert refused.value.orig.diag.table_name == "actuals"


def test_a_key_no_actual_uses_may_change_and_other_columns_always(engine, accounts):
    a, _b = accounts
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM actuals WHERE account_id = :a AND role_id = :r"),
            {"a": a.id, "r": a.roles[1]},
        )
        conn.execute(
            sa.text("UPDATE roles SET id = id + 50 WHERE account_id = :a AND id = :r"),
            {"a": a.id, "r": a.roles[1]},
        )
        conn.execute(
            sa.text("UPDATE people SET last_name = 'M', archived = true WHERE account_id = :a"), {"a": a.id}
        )


def test_deleting_an_account_takes_all_its_rows(engine, accounts):
    a, b = accounts
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM accounts WHERE id = :a"), {"a": a.id})
        left = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM actuals WHERE account_id = :a)"
                " + (SELECT count(*) FROM people WHERE account_id = :a)"
                " + (SELECT count(*) FROM projects WHERE account_id = :a)"
                " + (SELECT count(*) FROM roles WHERE account_id = :a)"
            ),
            {"a": a.id},
        ).scalar()
    assert left == 0
    assert actuals_of(engine, b) == every_pair(b)


def test_deleting_a_large_account_does_not_scan_its_actuals_per_row(engine):
    """An account's people and projects cascade in one statement each, and their triggers skip
    the account being deleted (its actuals are gone already): a few hundred people and
    projects with 100k actuals go in well under the time a scan per row would take."""
    with engine.begin() as conn:
        account = make_account(conn, 9_500_000_000 + uuid.uuid4().int % 1_000_000 * 1000)
        p = {"a": account.id}
        conn.execute(
            sa.text(
                "INSERT INTO people (account_id, first_name, last_name, role_id)"
                " SELECT :a, 'F', 'L', :r FROM generate_series(1, 300)"
            ),
            {**p, "r": account.roles[0]},
        )
        conn.execute(
            sa.text(
                "INSERT INTO projects (account_id, name, project_type)"
                " SELECT :a, 'P', 'non_billable' FROM generate_series(1, 300)"
            ),
            p,
        )
        conn.execute(
            sa.text(
                "INSERT INTO actuals (account_id, person_id, project_id, role_id, date)"
                " SELECT :a, pe.id, pr.id, :r, DATE '2026-01-01' + d"
                " FROM (SELECT id FROM people WHERE account_id = :a ORDER BY id LIMIT 100) pe,"
                " (SELECT id FROM projects WHERE account_id = :a ORDER BY id LIMIT 100) pr,"
                " generate_series(0, 9) d"
            ),
            {**p, "r": account.roles[1]},
        )
    started = time.monotonic()
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM accounts WHERE id = :a"), p)
    assert time.monotonic() - started < 10.0
    assert actuals_of(engine, account) == set()


class Background:
    """A statement run in a thread on its own connection, committed when it returns; its
    backend's pid, to see it wait in pg_stat_activity."""

    def __init__(self, engine: sa.Engine, work: Callable[[sa.Connection], None]) -> None:
        self.pid: int | None = None
        self.error: BaseException | None = None
        self._engine, self._work = engine, work
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Background:
        self.thread.start()
        assert self._started.wait(10), "the background connection did not start"
        return self

    def _run(self) -> None:
        try:
            with self._engine.begin() as conn:
                self.pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                self._started.set()
                self._work(conn)
        except BaseException as exc:  # reported by finish(), in the test's thread
            self.error = exc
            self._started.set()

    def waits_on_a_lock(self, engine: sa.Engine) -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(
                    sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": self.pid},
                ).scalar()
                == "Lock"
            )

    def finish(self, timeout: float = 10.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the background statement did not finish"
        if self.error is not None:
            raise self.error


def test_a_person_delete_waits_for_a_sync_holding_the_account_and_takes_what_it_wrote(engine, accounts):
    a, _b = accounts
    person = a.people[0]
    with engine.connect() as sync:
        tx = sync.begin()
        sync.execute(HOLD, {"a": a.id})
        # The sync writes an actual of the person, not yet committed.
        sync.execute(
            sa.text(
                "INSERT INTO actuals (account_id, person_id, project_id, role_id, date)"
                " VALUES (:a, :p, :pr, :r, DATE '2026-02-02')"
            ),
            {"a": a.id, "p": person, "pr": a.projects[0], "r": a.roles[0]},
        )
        delete = Background(
            engine,
            lambda conn: conn.execute(
                sa.text("DELETE FROM people WHERE account_id = :a AND id = :p"), {"a": a.id, "p": person}
            ),
        ).start()
        eventually(lambda: delete.waits_on_a_lock(engine), timeout=10, what="the delete to wait")
        assert delete.thread.is_alive()
        tx.commit()
    delete.finish()
    # The delete saw what the sync committed meanwhile: nothing is left pointing at the person.
    assert all(p != person for p, _project in actuals_of(engine, a))


def test_a_sync_holding_the_account_after_a_project_delete_waits_for_it(engine, accounts):
    a, _b = accounts
    project = a.projects[0]
    seen: list[int] = []

    def sync(conn: sa.Connection) -> None:
        conn.execute(HOLD, {"a": a.id})
        seen.extend(
            conn.execute(
                sa.text("SELECT id FROM projects WHERE account_id = :a ORDER BY id"), {"a": a.id}
            ).scalars()
        )

    with engine.connect() as deleter:
        tx = deleter.begin()
        deleter.execute(
            sa.text("DELETE FROM projects WHERE account_id = :a AND id = :p"), {"a": a.id, "p": project}
        )
        held = Background(engine, sync).start()
        eventually(lambda: held.waits_on_a_lock(engine), timeout=10, what="the sync's hold to wait")
        assert held.thread.is_alive()
        tx.commit()
    held.finish()
    # The sync, let go once the delete committed, no longer sees the project.
    assert seen == [a.projects[1]]


@pytest.fixture
def partitioned_database(server_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """A database migrated to the newest revision with hash-partitioned hot tables."""
    monkeypatch.setenv("DB_HASH_PARTITIONS", "4")
    with new_database(server_database_url) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def test_hash_partitioned_actuals_and_the_way_back(partitioned_database):
    engine = partitioned_database
    with engine.begin() as conn:
        assert conn.execute(ACTUALS_KEYS).scalars().all() == []
        # No partition kept a copy of the keys either.
        assert not conn.execute(
            sa.text(
                "SELECT EXISTS (SELECT FROM pg_constraint k JOIN pg_inherits i ON i.inhrelid = k.conrelid"
                " WHERE i.inhparent = 'actuals'::regclass AND k.contype = 'f')"
            )
        ).scalar()
        account = make_account(conn, 1000)
        conn.execute(
            sa.text("DELETE FROM people WHERE account_id = :a AND id = :p"),
            {"a": account.id, "p": account.people[0]},
        )
    assert actuals_of(engine, account) == {(account.people[1], project) for project in account.projects}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM roles WHERE account_id = :a AND id = :r"),
            {"a": account.id, "r": account.roles[1]},
        )

    # Downgrading puts the keys back (on the partitioned parent), and the triggers go.
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    with engine.begin() as conn:
        assert conn.execute(ACTUALS_KEYS).scalars().all() == REPLACED_KEYS
        assert not conn.execute(
            sa.text(
                "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgname LIKE '%actuals%' AND NOT tgisinternal)"
            )
        ).scalar()
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(
                sa.text(
                    "INSERT INTO actuals (account_id, person_id, project_id, role_id, date)"
                    " VALUES (:a, :p, :pr, :r, DATE '2026-03-03')"
                ),
                {"a": account.id, "p": account.people[0], "pr": account.projects[0], "r": account.roles[0]},
            )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(ACTUALS_KEYS).scalars().all() == []


# What no foreign key refuses any more: an actual whose person, project or role is gone.
DANGLING = sa.text(
    "SELECT count(*) FROM actuals AS a WHERE a.account_id = :a AND ("
    " NOT EXISTS (SELECT 1 FROM people WHERE account_id = a.account_id AND id = a.person_id)"
    " OR NOT EXISTS (SELECT 1 FROM projects WHERE account_id = a.account_id AND id = a.project_id)"
    " OR NOT EXISTS (SELECT 1 FROM roles WHERE account_id = a.account_id AND id = a.role_id))"
)


def test_a_sync_after_a_person_is_deleted_writes_no_actual_for_them(app, synced, engine):
    from tests.integration.actuals_support import countable_entry, log_beside, our_id, sync_actuals

    account_id, store = synced
    entry = countable_entry(engine, account_id, store)
    # A second entry under the same key: what rebuilding that key finds after the first moves.
    log_beside(store, entry, 0.5)
    sync_actuals(app, account_id)
    person_id = our_id(engine, account_id, "person", entry["user"]["id"])
    with engine.begin() as conn:  # someone deletes the person in the planning database
        conn.execute(
            sa.text("DELETE FROM people WHERE account_id = :a AND id = :p"), {"a": account_id, "p": person_id}
        )
    # The entry is edited: it no longer resolves (its person is gone), so its key is rebuilt
    # from the entries still applied under it, which name the deleted person.
    store.update("time_entries", entry["id"], {"hours": 2.25})

    stats = sync_actuals(app, account_id)

    assert stats["entries.changed"] == 1
    with engine.connect() as conn:
        assert conn.execute(DANGLING, {"a": account_id}).scalar() == 0
