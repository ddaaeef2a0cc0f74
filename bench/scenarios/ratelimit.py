"""The backfill with Harvest's limit enforced by the simulator (100 requests per sliding 15 s)
and the workers' shared limiter on: how much of the allowed rate is used, and no 429.

Rate used = the mean number of requests the simulator received in a 15 s window, over every
window from the first request to the last, / 100. A client at the limit scores 100%; the
limiter's one-second margin (100 per 16 s) caps ours at 94%. The start, where Harvest lets
100 requests through at once, neither helps nor hurts: it is one window among many.
"""

from __future__ import annotations

import time

from bench.report import Section
from bench.scenarios.backfill import BackfillResult
from bench.sim import Agency, RequestClock
from bench.stack import Stack

LIMIT, WINDOW_S = 100, 15.0
TARGET_USAGE = 0.90


def measure(stack: Stack, agency: Agency, workers: int) -> BackfillResult:
    split = f"parts of <= {stack.part_entries:,} entries" if stack.part_entries else "not split"
    section = Section(
        f"rate limit enforced, {workers} worker(s)",
        f"{agency.people} people x {agency.days} days, simulator {LIMIT}/{WINDOW_S:.0f}s, "
        f"HARVEST_RATE_LIMIT={stack.rate_limit}, {split}",
    )
    total = stack.sim.counts()["time_entries"]
    stack.prepare()
    entities_worker = stack.start_workers("entities", 1)
    stack.sync_entities()
    stack.stop_workers(entities_worker)
    pool = stack.start_workers("time_entries", workers)
    # Let the entity sync's requests leave both windows (the simulator's and ours).
    time.sleep(WINDOW_S + 2)
    stack.sim.reset_stats()
    with RequestClock(stack.sim) as clock:
        run = stack.admin_sync("--what=actuals")
        time.sleep(0.2)
    stats = stack.sim.stats()
    for proc in pool:
        proc.sample()
    _, span = clock.span()
    windows = clock.windows(WINDOW_S)
    section.add("time entries", f"{total:,}")
    section.add(
        "wall, publish -> run succeeded", f"{run.seconds:.1f} s ({total / run.seconds:,.0f} entries/s)"
    )
    section.add("Harvest requests", f"{stats['requests']:,} in {span:.1f} s, first to last")
    if windows:
        usage = sum(windows) / len(windows) / LIMIT
        section.add(
            f"allowed request rate used (requests per {WINDOW_S:.0f} s: mean, min, max / {LIMIT})",
            f"{usage:.1%} ({sum(windows) / len(windows):.1f}, {min(windows)}, {max(windows)})",
            f">= {TARGET_USAGE:.0%}",
            usage >= TARGET_USAGE,
        )
    else:
        section.add("allowed request rate used", f"n/a: the run lasted under {WINDOW_S:.0f} s")
    section.add("peak RSS per worker", ", ".join(f"{p.rss_mb:.0f}" for p in pool) + " MB")
    limited = stats["by_status"].get("429", 0)
    section.add("429 responses", str(limited), "0", limited == 0)
    return BackfillResult(run, total, stats["requests"], section)
