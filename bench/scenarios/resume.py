"""What one kill -9 costs a first sync: the same agency synced twice by one worker (not split
into parts), undisturbed and with the worker killed at 80%, its message redelivered to a new
worker that resumes from the last checkpoint."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from bench import procs
from bench.report import Section
from bench.sim import Agency
from bench.stack import ACCOUNT, Run, Stack

KILL_AT = 0.8
# The bound: a kill costs at most a quarter more requests than an undisturbed run.
TARGET_EXTRA_REQUESTS = 0.25


@dataclass
class FirstSync:
    run: Run
    requests: int
    killed_at: float | None = None


def undisturbed(stack: Stack) -> FirstSync:
    _entities(stack)
    stack.start_workers("time_entries", 1)
    stack.sim.reset_stats()
    run = stack.admin_sync("--what=actuals")
    return FirstSync(run, stack.sim.stats()["requests"])


def killed(stack: Stack) -> FirstSync:
    _entities(stack)
    (worker,) = stack.start_workers("time_entries", 1)
    stack.sim.reset_stats()
    done: dict[str, str] = {}
    sync = threading.Thread(
        target=lambda: done.update(out=stack.cli("admin", "sync", ACCOUNT, "--what=actuals"))
    )
    sync.start()
    at = _share_done_when(stack, KILL_AT)
    worker.popen.send_signal(signal.SIGKILL)
    worker.popen.wait(10)
    stack.start_workers("time_entries", 1)
    sync.join()
    ids = [line.split(" ", 1)[1] for line in done["out"].splitlines() if line.startswith("published ")]
    run = _wait_run(stack, ids[-1])
    return FirstSync(run, stack.sim.stats()["requests"], at)


def section(agency: Agency, calm: FirstSync, hit: FirstSync) -> Section:
    s = Section("resume after kill -9", f"{agency.people} people x {agency.days} days, 1 worker, not split")
    extra = hit.requests - calm.requests
    share = extra / calm.requests
    s.add("entries", f"{calm.run.counts.get('entries.received', 0):,}")
    s.add("undisturbed: requests / wall", f"{calm.requests:,} / {calm.run.seconds:.1f} s")
    s.add("killed at", f"{hit.killed_at:.0%}")
    s.add("killed: requests / wall", f"{hit.requests:,} / {hit.run.seconds:.1f} s")
    s.add(
        "lost to the kill: requests",
        f"+{extra} (+{share:.1%})",
        f"<= +{TARGET_EXTRA_REQUESTS:.0%}",
        share <= TARGET_EXTRA_REQUESTS,
    )
    s.add("lost to the kill: time", f"{hit.run.seconds - calm.run.seconds:+.1f} s")
    s.add("resumed from a checkpoint", str(hit.run.counts.get("run.resumed", 0)))
    return s


def _entities(stack: Stack) -> None:
    stack.prepare()
    worker = stack.start_workers("entities", 1)
    stack.sync_entities()
    stack.stop_workers(worker)


def _share_done_when(stack: Stack, share: float, timeout_s: float = 600) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = stack.scalar(
            "SELECT (progress->>'entries')::float / NULLIF((progress->>'total_entries')::float, 0)"
            " FROM sync_runs WHERE account_id = :account_id AND kind = 'actuals' AND status = 'running'"
        )
        if done is not None and done >= share:
            return float(done)
        time.sleep(0.05)
    raise RuntimeError(f"the first sync never reached {share:.0%}")


def _wait_run(stack: Stack, message_id: str, timeout_s: float = 900) -> Run:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = stack.scalar(
            "SELECT status FROM sync_runs WHERE account_id = :account_id AND message_id = :m", m=message_id
        )
        if status in ("succeeded", "failed"):
            return stack.run(message_id)
        time.sleep(0.2)
    raise subprocess.TimeoutExpired(procs.CLI, timeout_s)
