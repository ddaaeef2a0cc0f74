"""Real worker processes for the chaos suite: started, killed with SIGKILL, stopped with SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

HARVEST_SYNC = str(Path(sys.executable).with_name("harvest-sync"))
# `harvest-sync` whose first connect tries AMQP_URL's addresses in the order given (a
# process starts at a random one, to spread pods over the nodes), for a test that puts each
# worker on a node of its choosing. Later reconnects move on through the list as usual.
FIRST_ADDRESS_FIRST = (
    "from infra.amqp import connection; connection._start = lambda count: 0; "
    "from harvest_sync.cli import main; main()"
)


class WorkerPool:
    def __init__(
        self, env: dict[str, str], queues: str, log_dir: Path, *, first_address_first: bool = False
    ) -> None:
        self.env = {**os.environ, **env}
        self.queues = queues
        self.log_dir = log_dir
        self.command = [sys.executable, "-c", FIRST_ADDRESS_FIRST] if first_address_first else [HARVEST_SYNC]
        self.procs: list[subprocess.Popen] = []
        self.log_paths: dict[int, Path] = {}  # each worker's log, by pid
        self.started = 0
        self.killed = 0

    def start(self, n: int = 1, **env: str) -> None:
        """Start ``n`` workers, with ``env`` added to the pool's environment."""
        for _ in range(n):
            self.started += 1
            path = self.log_dir / f"worker-{self.started}.log"
            log = path.open("w")
            self.procs.append(
                subprocess.Popen(
                    [*self.command, "worker", "--queues", self.queues],
                    env={**self.env, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            self.log_paths[self.procs[-1].pid] = path

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def kill9_random(self) -> None:
        alive = self.alive()
        if alive:
            victim = random.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            self.killed += 1

    def stop(self, timeout: float = 30.0) -> dict[int, float]:
        """SIGTERM every worker; return each one's exit code and seconds to exit."""
        out = {}
        running = self.alive()
        for p in running:
            p.send_signal(signal.SIGTERM)
        for p in running:
            t0 = time.monotonic()
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            out[p.pid] = (p.returncode, time.monotonic() - t0)
        return out

    def logs(self) -> str:
        return "\n".join(f.read_text()[-3000:] for f in sorted(self.log_dir.glob("worker-*.log")))
