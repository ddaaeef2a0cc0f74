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


class WorkerPool:
    def __init__(self, env: dict[str, str], queues: str, log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.queues = queues
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.started = 0
        self.killed = 0

    def start(self, n: int = 1) -> None:
        for _ in range(n):
            self.started += 1
            log = (self.log_dir / f"worker-{self.started}.log").open("w")
            self.procs.append(
                subprocess.Popen(
                    [HARVEST_SYNC, "worker", "--queues", self.queues],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

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
