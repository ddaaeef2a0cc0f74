"""Entity discovery of a large agency: clients, projects and people in one command, through
RabbitMQ and an entities worker."""

from __future__ import annotations

from bench.report import Section
from bench.sim import Agency
from bench.stack import Stack

TARGET_S = 10.0


def measure(stack: Stack, agency: Agency) -> Section:
    section = Section(
        "entity discovery",
        f"{agency.people:,} people, {agency.projects:,} projects, {agency.clients:,} clients",
    )
    stack.prepare()
    stack.start_workers("entities", 1)
    stack.sim.reset_stats()
    run = stack.sync_entities()
    stats = stack.sim.stats()
    c = run.counts
    section.add(
        "created: clients / projects / people",
        " / ".join(f"{c.get(f'{k}.created', 0):,}" for k in ("clients", "projects", "people")),
    )
    section.add("Harvest requests", f"{stats['requests']:,}")
    section.add_run_time(run.seconds, TARGET_S)
    return section
