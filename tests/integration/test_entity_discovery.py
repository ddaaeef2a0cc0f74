"""Admin publish -> RabbitMQ -> entity consumer -> rows, against the Harvest simulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from click.testing import CliRunner

from domain.commands import SyncEntities
from harvest_sync.cli import main
from infra.db import tables as t
from tests.integration.helpers import eventually

ALL = ("clients_projects", "people")


def _sync_cmd(account_id: int) -> SyncEntities:
    return SyncEntities(account_id=account_id, kinds=ALL, requested_at=datetime.now(UTC).isoformat())


def _rows(engine, table, account_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(table).where(table.c.account_id == account_id)).mappings().all()


def _by_harvest_id(engine, account_id, entity_type):
    """Harvest id -> our row, through the external references."""
    table = {"client": t.clients, "project": t.projects, "person": t.people}[entity_type]
    column = {"client": "client_id", "project": "project_id", "person": "person_id"}[entity_type]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.external_refs.c.harvest_id, table)
            .join(table, table.c.id == t.external_refs.c[column])
            .where(t.external_refs.c.account_id == account_id, t.external_refs.c.entity_type == entity_type)
        ).mappings()
        return {r["harvest_id"]: dict(r) for r in rows}


def _run(engine, account_id, message_id):
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(t.sync_runs).where(
                    t.sync_runs.c.account_id == account_id, t.sync_runs.c.message_id == message_id
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None


def _wait_done(engine, account_id, message_id):
    return eventually(
        lambda: (r := _run(engine, account_id, message_id)) and r["status"] in ("succeeded", "failed") and r,
        what=f"run {message_id}",
    )


def test_admin_sync_imports_what_harvest_has(app, env, simulator, new_account, run_worker, engine):
    # Given an account whose Harvest has clients, projects and people
    account_id, harvest_id = new_account()
    truth = simulator.store(harvest_id)
    run_worker(("entities", "time_entries"))

    # When an operator publishes a sync and waits for it
    result = CliRunner().invoke(main, ["admin", "sync", str(account_id), "--what", "all", "--wait"], env=env)

    # Then it succeeds and every Harvest record is here, matched by Harvest id
    assert result.exit_code == 0, result.output
    assert "run succeeded" in result.output
    clients = _by_harvest_id(engine, account_id, "client")
    projects = _by_harvest_id(engine, account_id, "project")
    people = _by_harvest_id(engine, account_id, "person")
    assert set(clients) == {c["id"] for c in truth.list("clients")}
    assert set(projects) == {p["id"] for p in truth.list("projects")}
    assert set(people) == {u["id"] for u in truth.list("users")}

    client_of = {hid: row["id"] for hid, row in clients.items()}
    for p in truth.list("projects"):
        ours = projects[p["id"]]
        assert ours["name"] == p["name"]
        assert ours["client_id"] == client_of[p["client"]["id"]]
        assert ours["archived"] is (not p["is_active"])
        if p["budget_by"] == "project_cost" and p["cost_budget"] is not None:
            assert ours["budget"] == Decimal(str(p["cost_budget"]))
        else:
            assert ours["budget"] is None
        expected_type = (
            "non_billable"
            if not p["is_billable"]
            else "fixed_price"
            if p["is_fixed_fee"]
            else "time_and_materials"
        )
        assert ours["project_type"] == expected_type

    with engine.connect() as conn:
        role_name = dict(conn.execute(sa.select(t.roles.c.id, t.roles.c.name)).all())
    for u in truth.list("users"):
        ours = people[u["id"]]
        assert (ours["first_name"], ours["last_name"], ours["email"]) == (
            u["first_name"],
            u["last_name"],
            u["email"],
        )
        assert ours["cost"] == (Decimal(str(u["cost_rate"])) if u["cost_rate"] is not None else None)
        distinct = {" ".join(r.split()).casefold() for r in u["roles"]}
        if len(distinct) == 1:
            assert role_name[ours["role_id"]].casefold() == distinct.pop()
        else:
            assert role_name[ours["role_id"]] == "Unknown"


def test_same_command_twice_and_a_second_sync_create_nothing_twice(
    app, simulator, new_account, run_worker, engine
):
    account_id, harvest_id = new_account()
    run_worker()
    cmd = _sync_cmd(account_id)

    # When the same command is delivered twice, then a new sync runs
    app.publish(cmd)
    app.publish(cmd)
    first = _wait_done(engine, account_id, cmd.message_id)
    again = _sync_cmd(account_id)
    app.publish(again)
    second = _wait_done(engine, account_id, again.message_id)

    # Then the rows exist once, and the second run found them all present
    truth = simulator.store(harvest_id)
    assert first["status"] == second["status"] == "succeeded"
    assert len(_rows(engine, t.clients, account_id)) == len(truth.list("clients"))
    assert len(_rows(engine, t.projects, account_id)) == len(truth.list("projects"))
    assert len(_rows(engine, t.people, account_id)) == len(truth.list("users"))
    assert second["counts"].get("projects.created", 0) == 0
    assert second["counts"]["projects.present"] == len(truth.list("projects"))
    assert second["counts"]["people.present"] == len(truth.list("users"))


def test_two_consumers_at_once_create_each_entity_once(app, simulator, new_account, run_worker, engine):
    account_id, harvest_id = new_account(people=60, projects=40, clients=10)
    run_worker()
    run_worker()
    commands = [_sync_cmd(account_id) for _ in range(4)]
    for cmd in commands:
        app.publish(cmd)
    runs = [_wait_done(engine, account_id, c.message_id) for c in commands]

    truth = simulator.store(harvest_id)
    assert {r["status"] for r in runs} == {"succeeded"}
    assert len(_rows(engine, t.people, account_id)) == len(truth.list("users"))
    assert len(_rows(engine, t.projects, account_id)) == len(truth.list("projects"))
    assert sum(r["counts"].get("people.created", 0) for r in runs) == len(truth.list("users"))


def test_manual_link_prevents_a_duplicate_and_keeps_our_data(
    app, env, simulator, new_account, run_worker, engine
):
    account_id, harvest_id = new_account()
    harvest_client = simulator.store(harvest_id).list("clients")[0]
    with engine.begin() as conn:
        ours = conn.execute(
            sa.insert(t.clients).values(account_id=account_id, name="Our own name").returning(t.clients.c.id)
        ).scalar_one()

    runner = CliRunner()
    linked = runner.invoke(
        main,
        ["admin", "link", str(account_id), "--client", str(ours), "--harvest-id", str(harvest_client["id"])],
        env=env,
    )
    assert linked.exit_code == 0, linked.output
    run_worker()
    synced = runner.invoke(
        main, ["admin", "sync", str(account_id), "--what", "clients-projects", "--wait"], env=env
    )
    assert synced.exit_code == 0, synced.output

    clients = _by_harvest_id(engine, account_id, "client")
    assert clients[harvest_client["id"]]["id"] == ours
    assert clients[harvest_client["id"]]["name"] == "Our own name"
    assert len(_rows(engine, t.clients, account_id)) == len(simulator.store(harvest_id).list("clients"))


def test_existing_entities_are_never_updated_but_new_ones_arrive(
    app, simulator, new_account, run_worker, engine
):
    account_id, harvest_id = new_account()
    run_worker()
    first = _sync_cmd(account_id)
    app.publish(first)
    _wait_done(engine, account_id, first.message_id)

    truth = simulator.store(harvest_id)
    renamed = truth.list("projects")[0]
    truth.update("projects", renamed["id"], {"name": "Renamed in Harvest"})
    client_id = truth.list("clients")[0]["id"]
    added = truth.create("projects", {"name": "Brand new", "client_id": client_id, "is_billable": True})

    second = _sync_cmd(account_id)
    app.publish(second)
    run = _wait_done(engine, account_id, second.message_id)

    projects = _by_harvest_id(engine, account_id, "project")
    assert projects[renamed["id"]]["name"] == renamed["name"]
    assert projects[added["id"]]["name"] == "Brand new"
    assert run["counts"]["projects.created"] == 1


def test_sync_with_people_import_off_skips_people(app, simulator, new_account, run_worker, engine):
    account_id, _ = new_account()
    with engine.begin() as conn:
        conn.execute(sa.update(t.accounts).where(t.accounts.c.id == account_id).values(import_people=False))
    run_worker()
    cmd = _sync_cmd(account_id)
    app.publish(cmd)
    run = _wait_done(engine, account_id, cmd.message_id)
    assert run["status"] == "succeeded"
    assert _rows(engine, t.people, account_id) == []
    assert run["counts"]["people.skipped.import_off"] == 1


def test_revoked_token_marks_account_needing_attention(app, env, simulator, new_account, run_worker, engine):
    account_id, harvest_id = new_account()
    simulator.revoke(harvest_id)
    run_worker()
    result = CliRunner().invoke(main, ["admin", "sync", str(account_id), "--wait"], env=env)
    assert result.exit_code != 0
    assert "run failed" in result.output
    with engine.connect() as conn:
        account = conn.execute(sa.select(t.accounts).where(t.accounts.c.id == account_id)).mappings().one()
    assert account["status"] == "needs_attention"
    assert "401" in account["status_reason"]

    listing = CliRunner().invoke(main, ["admin", "account", "list"], env=env)
    assert "needs_attention" in listing.output


def test_cli_rejects_bad_input_with_one_line(env, new_account):
    account_id, _ = new_account()
    runner = CliRunner()
    cases = [
        (["admin", "sync", "no-such-account"], "unknown account"),
        (["admin", "sync", str(account_id), "--what", "everything"], "Invalid value for '--what'"),
        (
            ["admin", "link", str(account_id), "--client", "1", "--harvest-id", "abc"],
            "'abc' is not a valid integer",
        ),
        (["admin", "link", str(account_id), "--harvest-id", "5"], "exactly one of"),
        (
            ["admin", "link", str(account_id), "--client", "999999999", "--harvest-id", "5"],
            "no client 999999999",
        ),
        (["admin", "account", "add", "--name", "x", "--harvest-account-id", "-4"], "--harvest-account-id"),
        (["worker", "--queues", "payroll"], "unknown queue"),
    ]
    for args, reason in cases:
        result = runner.invoke(main, args, env=env)
        assert result.exit_code != 0, args
        assert reason in result.output, (args, result.output)


def test_linking_a_harvest_id_owned_by_another_entity_fails(app, env, new_account, engine):
    account_id, _ = new_account()
    with engine.begin() as conn:
        a, b = (
            conn.execute(
                sa.insert(t.projects)
                .values(account_id=account_id, name=n, project_type="time_and_materials")
                .returning(t.projects.c.id)
            ).scalar_one()
            for n in ("A", "B")
        )
    runner = CliRunner()
    hid = str(4_000_000_000 + uuid.uuid4().int % 1000)
    assert (
        runner.invoke(
            main, ["admin", "link", str(account_id), "--project", str(a), "--harvest-id", hid], env=env
        ).exit_code
        == 0
    )
    clash = runner.invoke(
        main, ["admin", "link", str(account_id), "--project", str(b), "--harvest-id", hid], env=env
    )
    assert clash.exit_code != 0
    assert "already linked to project" in clash.output


def test_account_add_reads_token_from_env_never_argv(env, engine, secret_key):
    result = CliRunner().invoke(
        main,
        ["admin", "account", "add", "--name", f"n-{uuid.uuid4().hex[:6]}", "--harvest-account-id", "42"],
        env={**env, "HARVEST_TOKEN": "pat-secret-value"},
    )
    assert result.exit_code == 0, result.output
    new_id = int(result.output.strip())
    with engine.connect() as conn:
        sealed = conn.execute(
            sa.select(t.accounts.c.token_sealed).where(t.accounts.c.id == new_id)
        ).scalar_one()
    assert b"pat-secret-value" not in bytes(sealed)
    without = CliRunner().invoke(
        main, ["admin", "account", "add", "--name", "other", "--harvest-account-id", "42"], env=env
    )
    assert without.exit_code != 0
    assert "HARVEST_TOKEN" in without.output
