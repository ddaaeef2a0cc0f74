"""`python -m bench SCENARIO [options]`: run, print a table, append to bench/RESULTS.md."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.env import DEFAULT_AMQP_URL, DEFAULT_SERVER_URL, bench_env
from bench.report import RESULTS, Section, append_results, machine, print_section
from bench.scenarios import autofill, backfill, entities, incremental, ratelimit, resume, scheduler
from bench.sim import Agency, Simulator
from bench.stack import Stack
from infra.logging import configure_logging

RATE_LIMITED = "100/15"
ACCOUNTS = {"scheduler": 10_000, "tenants": 2000, "fairness": 500, "partitioning": 200}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The bench's own publishes and reads stay quiet; the workers log to their files.
    configure_logging("warning", "console")
    command = "python -m bench " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    info = machine()
    sections: list[Section] = []
    started = time.monotonic()
    try:
        for scenario in SCENARIOS[args.scenario](args):
            sections.append(scenario)
            print_section(scenario)
    finally:
        if sections and not args.no_record:
            info["bench wall time"] = f"{time.monotonic() - started:.0f} s"
            append_results(sections, info, command, args.results)
            print(f"\nappended to {os.path.relpath(args.results)}")
    failed = [f for s in sections for f in s.figures if f.met is False]
    return 1 if failed else 0


def _agency(args: argparse.Namespace, **defaults: object) -> Agency:
    values = {k: getattr(args, k) for k in ("people", "projects", "clients", "days", "entries_per_day")}
    return Agency(
        **{k: v if v is not None else defaults.get(k, getattr(Agency, k)) for k, v in values.items()}
    )


@contextlib.contextmanager
def _stack(
    args: argparse.Namespace, agency: Agency | None, *, rate_limit: str = "off", workers: int = 1
) -> Iterator[Stack]:
    with bench_env(args.database_url, args.amqp_url) as env:
        sim = Simulator(env, agency, rate_limit=rate_limit != "off") if agency else None
        stack = Stack(env, sim, rate_limit=rate_limit)
        try:
            if sim is not None:
                total = sim.counts()["time_entries"]
                stack.part_entries = (
                    args.part_entries
                    if args.part_entries is not None
                    else (backfill.auto_part_entries(total, workers))
                )
            yield stack
        finally:
            stack.close()
            if sim is not None:
                sim.stop()


def _backfill(args: argparse.Namespace) -> Iterator[Section]:
    agency = _agency(args)
    with _stack(args, agency, workers=args.workers) as stack:
        yield backfill.measure(stack, agency, args.workers).section


def _incremental(args: argparse.Namespace) -> Iterator[Section]:
    agency = _agency(args)
    with _stack(args, agency, workers=args.workers) as stack:
        result = backfill.measure(stack, agency, args.workers)
        yield result.section
        yield incremental.measure(stack, result)
        yield incremental.measure_deletions(stack, result)


def _ratelimit(args: argparse.Namespace) -> Iterator[Section]:
    agency = _agency(args)
    for workers in [args.workers] if args.workers else [1, 4]:
        with _stack(args, agency, rate_limit=RATE_LIMITED, workers=workers) as stack:
            result = ratelimit.measure(stack, agency, workers)
            yield result.section
            if workers == 1:
                # The daily sync as it runs in production: a day later, under Harvest's limit.
                yield incremental.measure(stack, result, settle_s=ratelimit.WINDOW_S + 2, limited=True)


def _entities(args: argparse.Namespace) -> Iterator[Section]:
    agency = _agency(args, people=5000, projects=10_000, clients=1000, days=0)
    with _stack(args, agency) as stack:
        yield entities.measure(stack, agency)


def _autofill(args: argparse.Namespace) -> Iterator[Section]:
    agency = _agency(args, people=2000, projects=400, clients=80, days=0)
    with _stack(args, agency) as stack:
        yield autofill.measure(stack, agency)


def _scheduler(args: argparse.Namespace) -> Iterator[Section]:
    with _stack(args, None) as stack:
        yield scheduler.measure(stack, args.accounts)


def _resume(args: argparse.Namespace) -> Iterator[Section]:
    agency = _agency(args)
    runs = []
    for first_sync in (resume.undisturbed, resume.killed):
        with _stack(args, agency, workers=1) as stack:
            stack.part_entries = 0  # one message: what a kill costs it is the figure
            runs.append(first_sync(stack))
    yield resume.section(agency, *runs)


def _all(args: argparse.Namespace) -> Iterator[Section]:
    workers = args.workers
    yield from _incremental(args)
    for n in (1, 4):
        args.workers = n
        yield from _ratelimit(args)
    args.workers = workers
    for name in ("people", "projects", "clients", "days"):
        setattr(args, name, None)
    yield from _entities(args)
    yield from _autofill(args)
    yield from _scheduler(args)
    yield from _resume(args)


def _own_module(name: str) -> Callable[[argparse.Namespace], Iterator[Section]]:
    """A scenario that builds its own stack: ``bench.scenarios.NAME.run(args)``, imported when run."""

    def run(args: argparse.Namespace) -> Iterator[Section]:
        return importlib.import_module(f"bench.scenarios.{name}").run(args)

    return run


SCENARIOS: dict[str, Callable[[argparse.Namespace], Iterator[Section]]] = {
    "backfill": _backfill,
    "incremental": _incremental,
    "ratelimit": _ratelimit,
    "entities": _entities,
    "autofill": _autofill,
    "scheduler": _scheduler,
    "resume": _resume,
    "tenants": _own_module("tenants"),
    "fairness": _own_module("fairness"),
    "partitioning": _own_module("partitioning"),
    "all": _all,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL),
        help="PostgreSQL server (local only); the bench creates and drops its own database",
    )
    parser.add_argument("--amqp-url", default=os.environ.get("BENCH_AMQP_URL", DEFAULT_AMQP_URL))
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="where to append (default bench/RESULTS.md)"
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    helps = {
        "backfill": "first sync of an agency with N workers, rate limit off, and the COPY ceiling",
        "incremental": "backfill, then daily syncs after 1%% edits and with no change",
        "ratelimit": "backfill with Harvest's limit enforced (1 and 4 workers unless --workers)",
        "entities": "entity discovery (default 5,000 people, 10,000 projects)",
        "autofill": "weekly autofill (default 2,000 people x 5 days)",
        "scheduler": "one scheduler tick publishing a day of commands (default 10,000 accounts)",
        "resume": "a first sync undisturbed, then with its worker killed at 80%%: what the kill costs",
        "tenants": "N small agencies' first syncs, then a day of scheduled dailies (default 2,000)",
        "fairness": "500 accounts' dailies queued while a 750k first sync runs in parts",
        "partitioning": "backfill and daily cost at 20M entries, hash-partitioned against plain tables",
        "all": "every scenario with the defaults of the issue",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--people", type=int)
        p.add_argument("--projects", type=int)
        p.add_argument("--clients", type=int)
        p.add_argument("--days", type=int)
        p.add_argument("--entries-per-day", type=float, help="per person and working day (default 3.0)")
        p.add_argument("--workers", type=int, default=None if name == "ratelimit" else 2)
        p.add_argument("--part-entries", type=int, help="BACKFILL_PART_ENTRIES (default: 3 parts per worker)")
        p.add_argument("--accounts", type=int, default=ACCOUNTS.get(name), help="accounts in the scenario")
        if name == "tenants":
            p.add_argument(
                "--baseline",
                type=_checkout,
                help="a checkout of another revision with its own .venv: the day's last worker"
                " runs it, and each worker's CPU per daily is printed (with --workers 2 or more)",
            )
    return parser


def _checkout(text: str) -> Path:
    path = Path(text).resolve()
    if not (path / ".venv" / "bin" / "harvest-sync").exists():
        raise argparse.ArgumentTypeError(
            f"{path} has no .venv/bin/harvest-sync (run make .venv/bin/.installed there)"
        )
    return path
