"""Tokens sealed at rest with key rotation; tenants that share Harvest ids never cross."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from click.testing import CliRunner

from harvest_sync.cli import main
from infra.crypto import TokenCipher, generate_key
from infra.db import tables as t
from tests.integration.actuals_support import sync_actuals, sync_entities
from tests.integration.truth import actual_rows, assert_actuals_match


def _raw_tokens(engine, ids):
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(t.accounts.c.id, t.accounts.c.token_sealed).where(t.accounts.c.id.in_(ids))
            ).all()
        )


def test_rotate_key_reseals_every_token(env, engine, secret_key):
    runner = CliRunner()
    token = f"pat-{uuid.uuid4().hex}"
    added = runner.invoke(
        main,
        ["admin", "account", "add", "--name", f"rot-{uuid.uuid4().hex[:6]}", "--harvest-account-id", "7"],
        env={**env, "HARVEST_TOKEN": token},
    )
    account_id = int(added.output.strip())
    raw = bytes(_raw_tokens(engine, [account_id])[account_id])
    assert token.encode() not in raw  # never in clear

    new_key = generate_key()
    rotated = runner.invoke(
        main, ["admin", "rotate-key"], env={**env, "HARVEST_SYNC_SECRET_KEY": f"{new_key},{secret_key}"}
    )
    assert rotated.exit_code == 0, rotated.output
    resealed = bytes(_raw_tokens(engine, [account_id])[account_id])
    assert resealed != raw
    assert TokenCipher((new_key,)).open(resealed) == token  # the old key is no longer needed
    # Back under the session's key: the database is shared with the tests that follow.
    back = runner.invoke(
        main, ["admin", "rotate-key"], env={**env, "HARVEST_SYNC_SECRET_KEY": f"{secret_key},{new_key}"}
    )
    assert back.exit_code == 0, back.output

    # Starting without any key is a clear one-line error.
    missing = runner.invoke(main, ["admin", "account", "list"], env={**env, "HARVEST_SYNC_SECRET_KEY": ""})
    assert missing.exit_code == 2
    assert "HARVEST_SYNC_SECRET_KEY is not set" in missing.output


def test_rotate_key_names_a_token_no_key_opens_and_reseals_nothing(env, engine, secret_key):
    foreign = TokenCipher((generate_key(),)).seal("pat-of-a-lost-key")
    with engine.begin() as conn:
        account_id = conn.execute(
            sa.insert(t.accounts)
            .values(name=f"lost-{uuid.uuid4().hex[:6]}", harvest_account_id=8, token_sealed=foreign)
            .returning(t.accounts.c.id)
        ).scalar_one()
    before = _raw_tokens(engine, [account_id])
    try:
        result = CliRunner().invoke(
            main,
            ["admin", "rotate-key"],
            env={**env, "HARVEST_SYNC_SECRET_KEY": f"{generate_key()},{secret_key}"},
        )
        assert result.exit_code == 2, result.output
        assert f"account(s) {account_id} cannot be opened" in result.stderr
        assert "nothing was re-sealed" in result.stderr and len(result.stderr.splitlines()) == 1
        assert _raw_tokens(engine, [account_id]) == before
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(t.accounts).where(t.accounts.c.id == account_id))


def test_two_tenants_with_the_same_harvest_ids_never_cross(app, simulator, new_account, engine):
    # Same seed and sizes: both Harvest accounts use exactly the same ids.
    a, ha = new_account(people=12, projects=6, clients=3, days=15, entries_per_day=2)
    b, hb = new_account(people=12, projects=6, clients=3, days=15, entries_per_day=2)
    sa_, sb = simulator.store(ha), simulator.store(hb)
    assert {e["id"] for e in sa_.list("time_entries")} == {e["id"] for e in sb.list("time_entries")}
    for account_id in (a, b):
        sync_entities(app, account_id)
        sync_actuals(app, account_id)

    # Change only B's Harvest: edits, a deletion and a new project.
    entries = sb.list("time_entries")
    sb.update("time_entries", entries[0]["id"], {"hours": 9.99})
    sb.delete("time_entries", entries[1]["id"])
    sb.create("projects", {"name": "Only in B", "client_id": sb.list("clients")[0]["id"]})
    before_a = actual_rows(engine, a)
    sync_entities(app, b)
    sync_actuals(app, b, full=True)

    assert actual_rows(engine, a) == before_a
    assert_actuals_match(engine, a, sa_.list("time_entries"))
    assert_actuals_match(engine, b, sb.list("time_entries"))
    with engine.connect() as conn:
        for table in (t.clients, t.projects, t.people, t.roles, t.actuals, t.time_entries, t.external_refs):
            rows = conn.execute(
                sa.select(table.c.account_id, sa.func.count())
                .where(table.c.account_id.in_([a, b]))
                .group_by(table.c.account_id)
            ).all()
            counts = dict(rows)
            assert counts.get(a) and counts.get(b), table.name
        # Each tenant's rows point only at its own entities.
        crossed = (
            conn.execute(
                sa.text(
                    """
                SELECT count(*) FROM actuals x JOIN people p ON p.id = x.person_id
                WHERE x.account_id IN (:a, :b) AND p.account_id <> x.account_id
                UNION ALL
                SELECT count(*) FROM external_refs r JOIN projects p ON p.id = r.project_id
                WHERE r.account_id IN (:a, :b) AND p.account_id <> r.account_id
                """
                ),
                {"a": a, "b": b},
            )
            .scalars()
            .all()
        )
        assert crossed == [0, 0]
        b_projects = conn.execute(
            sa.select(sa.func.count()).select_from(t.projects).where(t.projects.c.account_id == b)
        ).scalar()
        a_projects = conn.execute(
            sa.select(sa.func.count()).select_from(t.projects).where(t.projects.c.account_id == a)
        ).scalar()
    assert b_projects == a_projects + 1
