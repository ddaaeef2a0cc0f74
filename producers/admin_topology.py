"""`harvest-sync admin topology upgrade`: bring queues an older version declared in line with
this one's arguments, keeping their messages. Run it with the workers stopped."""

from __future__ import annotations

import click

from infra.amqp import QUEUES
from infra.amqp.upgrade import QueueUpgrade, UpgradeStopped, upgrade_topology
from infra.config import load_settings
from producers.admin import admin


@admin.group()
def topology() -> None:
    """The broker's queues: upgrade them after a release changes their arguments."""


@topology.command("upgrade")
def topology_upgrade() -> None:
    """Re-declare queues whose arguments changed, moving their messages over and back.

    Refuses, changing nothing, while a queue to replace has consumers: stop the workers
    first. An interrupted run is finished by running it again.
    """
    s = load_settings(require_secret=False)

    def report(done: QueueUpgrade) -> None:
        click.echo(done.describe())

    try:
        done = upgrade_topology(
            s.amqp_url,
            prefix=s.amqp_prefix,
            queues=QUEUES,
            delivery_limit=s.delivery_limit,
            retry_delays=s.retry_delays,
            on_queue=report,
        )
    except UpgradeStopped as exc:  # QueueInUse among them
        raise click.ClickException(str(exc)) from None
    if not done:
        click.echo("every queue already has the current arguments: nothing to do")
