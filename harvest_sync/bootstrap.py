"""The composition root, above the layers: the adapters (infra.app) and the handler table
(consumers), wired once. Workers, tests and benchmarks call bootstrap(); the admin CLI and the
console need only the adapters (infra.app.build_app) and never import a consumer."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import sqlalchemy as sa

from consumers.autofill import autofill_week
from consumers.backfill import backfill_part
from consumers.entities import sync_entities
from consumers.pipeline import Pipeline, Step
from consumers.time_entries import backfill_in_progress, sync_actuals
from domain.accounts import AccountRecord
from domain.clock import Clock, utcnow
from domain.commands import AutofillWeek, BackfillPart, SyncActuals, SyncEntities
from infra.app import App, build_app
from infra.config import Settings
from infra.harvest.client import HarvestClient


def bootstrap(
    settings: Settings | None = None,
    *,
    engine: sa.Engine | None = None,
    harvest_factory: Callable[[AccountRecord], HarvestClient] | None = None,
    clock: Clock = utcnow,
) -> App:
    """The App with every command's handler: the pipeline, and each command's step in it."""
    app = build_app(settings, engine=engine, harvest_factory=harvest_factory, clock=clock)
    pipeline = Pipeline(
        uow=app.uow,
        steps={
            SyncEntities: Step(partial(sync_entities, harvest_for=app.harvest_for)),
            SyncActuals: Step(
                partial(
                    sync_actuals,
                    harvest_for=app.harvest_for,
                    backfill_part_entries=app.settings.backfill_part_entries,
                ),
                guard=backfill_in_progress,
            ),
            BackfillPart: Step(partial(backfill_part, harvest_for=app.harvest_for)),
            AutofillWeek: Step(autofill_week),
        },
        publish_many=app.publish_many,
        clock=clock,
        max_message_s=app.settings.max_message_s,
    )
    app.handlers = dict.fromkeys(pipeline.steps, pipeline)
    return app
