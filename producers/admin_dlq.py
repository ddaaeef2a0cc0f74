"""`harvest-sync admin dlq list|show|replay|purge`: see why messages failed, send them back
after a fix, or drop them. Works per queue (entities, time_entries, autofill, backfill)."""

from __future__ import annotations

import json

import click

from infra.amqp import QUEUES
from infra.config import load_settings
from producers.admin import admin
from producers.cli_errors import refused
from producers.services import dead_letters

QUEUE = click.option("--queue", type=click.Choice(QUEUES), required=True, help="The consumer's queue.")


def _broker() -> dead_letters.Broker:
    s = load_settings(require_secret=False)
    return dead_letters.Broker(s.amqp_url, s.amqp_prefix)


@admin.group()
def dlq() -> None:
    """Dead-lettered messages: list, show, replay, purge."""


@dlq.command("list")
@QUEUE
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def dlq_list(queue: str, limit: int) -> None:
    """One line per dead letter: message id, type, when, and why."""
    letters = dead_letters.list_dead_letters(_broker(), queue, limit=limit)
    click.echo(f"{len(letters)} dead letter(s) in {queue}")
    for d in letters:
        when = d.failed_at.strftime("%Y-%m-%d %H:%M:%SZ") if d.failed_at else "?"
        click.echo(f"{d.message_id or '-'}  {d.type or '-'}  {when}  {d.error_type or 'broker'}: {d.reason}")


@dlq.command("show")
@QUEUE
@click.argument("message_id")
def dlq_show(queue: str, message_id: str) -> None:
    """Everything about one dead letter, body included."""
    with refused():
        d = dead_letters.find_dead_letter(_broker(), queue, message_id)
    click.echo(
        json.dumps(
            {
                "message_id": d.message_id,
                "type": d.type,
                "reason": d.reason,
                "error_type": d.error_type,
                "original_queue": d.original_queue,
                "failed_at": d.failed_at.isoformat() if d.failed_at else None,
                "death_count": d.death_count,
                "body": d.body.decode("utf-8", "replace"),
            },
            indent=2,
        )
    )


@dlq.command("replay")
@QUEUE
@click.option("--message-id", "message_ids", multiple=True, help="Only these (repeatable); default all.")
def dlq_replay(queue: str, message_ids: tuple[str, ...]) -> None:
    """Send dead letters back to their queue (after fixing the cause)."""
    n = dead_letters.replay(_broker(), queue, list(message_ids))
    click.echo(f"{n} message(s) replayed to {queue}")


@dlq.command("purge")
@QUEUE
@click.option("--message-id", "message_ids", multiple=True, help="Only these (repeatable); default all.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_purge(queue: str, message_ids: tuple[str, ...], yes: bool) -> None:
    """Drop dead letters for good."""
    if not yes and not click.confirm(f"Drop {'these' if message_ids else 'all'} dead letters of {queue}?"):
        raise click.Abort
    n = dead_letters.purge(_broker(), queue, list(message_ids))
    click.echo(f"{n} message(s) purged from {queue}")
