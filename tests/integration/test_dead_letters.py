"""Bad input loses nothing: malformed messages are dead-lettered with their reason, workers keep
going, and an operator can read, replay and purge dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pika
import sqlalchemy as sa
from click.testing import CliRunner

from domain.commands import SyncEntities
from harvest_sync.cli import main
from infra.amqp import Names, dead_letters, declare_topology
from infra.db import tables as t
from tests.integration.helpers import eventually, run_status

GOOD = {
    "v": 1,
    "type": "sync_entities",
    "payload": {"account_id": 1, "kinds": ["people"], "requested_at": "x"},
}


def _raw_publish(amqp_url, prefix, bodies):
    """Publish bytes as a buggy or hostile producer would, bypassing our encoder."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        declare_topology(ch, prefix=prefix, retry_delays=(1, 2))
        ch.confirm_delivery()
        for i, body in enumerate(bodies):
            ch.basic_publish(
                Names(prefix).commands_exchange,
                "entities",
                body,
                pika.BasicProperties(message_id=f"bad-{i}", delivery_mode=2),
                mandatory=True,
            )
    finally:
        conn.close()


def test_malformed_messages_are_dead_lettered_with_reasons(
    app, amqp_url, new_account, run_worker, engine, env
):
    prefix = app.settings.amqp_prefix
    run_worker()
    bad = [
        b"not json at all",
        json.dumps({**GOOD, "payload": {**GOOD["payload"], "account_id": "one"}}).encode(),
        json.dumps({**GOOD, "payload": {**GOOD["payload"], "account_id": 999_999_999}}).encode(),
        json.dumps({**GOOD, "type": "drop_everything"}).encode(),
        json.dumps({**GOOD, "v": 99}).encode(),
        b"x" * 100_000,
    ] * 34  # 204 messages
    _raw_publish(amqp_url, prefix, bad)

    letters = eventually(
        lambda: (
            (found := dead_letters(amqp_url, prefix, "entities", limit=1000))
            and len(found) >= len(bad)
            and found
        ),
        timeout=60,
        what="all malformed messages in the dead-letter queue",
    )
    assert len(letters) == len(bad)
    reasons = " | ".join(sorted({d.reason for d in letters}))
    for expected in (
        "not JSON",
        "must be an integer",
        "does not exist",
        "unknown command type",
        "version",
        "exceeds",
    ):
        assert expected in reasons
    assert {d.error_type for d in letters} <= {"MalformedMessage", "UnknownAccount"}

    # The worker is still running: a good command after them is processed.
    account_id, _ = new_account()
    cmd = SyncEntities(account_id, ("clients_projects",), datetime.now(UTC).isoformat())
    app.publish(cmd)
    eventually(lambda: run_status(engine, account_id, cmd.message_id) == "succeeded", what="the good command")

    listing = CliRunner().invoke(
        main, ["admin", "dlq", "list", "--queue", "entities", "--limit", "500"], env=env
    )
    assert listing.exit_code == 0 and f"{len(bad)} dead letter(s)" in listing.output
    purged = CliRunner().invoke(main, ["admin", "dlq", "purge", "--queue", "entities", "--yes"], env=env)
    assert purged.exit_code == 0 and f"{len(bad)} message(s) purged" in purged.output
    assert dead_letters(amqp_url, prefix, "entities") == []


def test_bad_token_dead_letters_then_replay_after_the_fix(
    app, env, amqp_url, simulator, new_account, run_worker, engine
):
    account_id, harvest_id = new_account()
    token = app.cipher.open(_sealed(engine, account_id))
    simulator.revoke(harvest_id)
    run_worker()
    cmd = SyncEntities(account_id, ("clients_projects", "people"), datetime.now(UTC).isoformat())
    app.publish(cmd)
    eventually(lambda: run_status(engine, account_id, cmd.message_id) == "failed", what="the failed run")
    runner = CliRunner()
    shown = eventually(
        lambda: (
            (
                r := runner.invoke(
                    main, ["admin", "dlq", "show", "--queue", "entities", cmd.message_id], env=env
                )
            )
            and r.exit_code == 0
            and r
        ),
        what="the dead letter",
    )
    assert "HarvestAuthError" in shown.output and "401" in shown.output

    # The operator fixes the token (Harvest takes the new one), then replays.
    simulator.set_token(harvest_id, token)
    fixed = runner.invoke(
        main, ["admin", "account", "set-token", str(account_id)], env={**env, "HARVEST_TOKEN": token}
    )
    assert fixed.exit_code == 0, fixed.output
    replayed = runner.invoke(main, ["admin", "dlq", "replay", "--queue", "entities"], env=env)
    assert "1 message(s) replayed" in replayed.output
    eventually(lambda: run_status(engine, account_id, cmd.message_id) == "succeeded", what="the replayed run")


def _sealed(engine, account_id):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(t.accounts.c.token_sealed).where(t.accounts.c.id == account_id)
        ).scalar_one()
