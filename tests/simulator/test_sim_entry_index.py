"""The time-entry indexes answer exactly what a scan of every entry would, through creates,
edits (also back-dated ones), timers started and stopped, and deletions."""

from __future__ import annotations

import random

import pytest

from simulator.query import run_query
from simulator.server import SimulatorServer
from simulator.store import ENTRY_ORDER
from simulator.timeutil import format_ts

ACCOUNT = 1000001


def _scan(store, since=None, inclusive=False, running=None, start=None, end=None):
    out = []
    for e in sorted(store.tables["time_entries"].values(), key=ENTRY_ORDER, reverse=True):
        if since is not None and not (e.updated_at >= since if inclusive else e.updated_at > since):
            continue
        if running is not None and e.is_running != running:
            continue
        if (start is not None and e.spent_date < start) or (end is not None and e.spent_date > end):
            continue
        out.append(e.id)
    return out


@pytest.mark.parametrize("recent_limit", [20_000, 3])
@pytest.mark.parametrize("inclusive", [False, True])
def test_indexed_queries_equal_a_full_scan(sim: SimulatorServer, inclusive: bool, recent_limit: int) -> None:
    rng = random.Random(11)
    store = sim.store(ACCOUNT)
    store.entry_indexes.RECENT_LIMIT = recent_limit  # 3: back-dated edits soon force a rebuild
    entries = store.list("time_entries")
    assert len(entries) > 50
    dates = sorted({e["spent_date"] for e in entries})
    stamps = sorted({e.updated_at for e in store.tables["time_entries"].values()})
    for step in range(120):
        ids = list(store.tables["time_entries"])
        op = rng.random()
        sim.set_clock_offset(10 * step)
        if op < 0.45:
            fields: dict = {"hours": round(rng.uniform(0.1, 8), 2)}
            if rng.random() < 0.2:
                fields["spent_date"] = rng.choice(dates)
            if rng.random() < 0.2:
                fields["is_running"] = rng.random() < 0.5
            if rng.random() < 0.1:
                fields["updated_at"] = format_ts(rng.choice(stamps))  # back-dated
            store.update("time_entries", rng.choice(ids), fields)
        elif op < 0.7:
            template = store.get("time_entries", rng.choice(ids))
            store.create(
                "time_entries",
                {
                    "user_id": template["user"]["id"],
                    "project_id": template["project"]["id"],
                    "spent_date": rng.choice(dates),
                    "hours": 1.0,
                    "is_running": rng.random() < 0.3,
                },
            )
        else:
            store.delete("time_entries", rng.choice(ids))
        since = rng.choice(stamps + [e.updated_at for e in store.tables["time_entries"].values()][-5:])
        start, end = sorted(rng.sample(dates, 2))
        cases = [
            ({"updated_since": since}, {"since": since}),
            ({"is_running": True}, {"running": True}),
            ({"is_running": False}, {"running": False}),
            ({"from": start}, {"start": start}),
            ({"to": end}, {"end": end}),
            (
                {"from": start, "to": end, "updated_since": since},
                {"start": start, "end": end, "since": since},
            ),
            ({"from": start, "is_running": True}, {"start": start, "running": True}),
        ]
        for filters, scan in cases:
            got = [e.id for e in run_query(store, "time_entries", tuple(filters.items()), inclusive).items]
            assert got == _scan(store, inclusive=inclusive, **scan), (step, filters)
