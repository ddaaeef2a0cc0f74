"""The Harvest simulator as a subprocess (`harvest-sync simulator`), and its control API."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from bench import procs
from bench.env import BenchEnv

HARVEST_ACCOUNT_ID = 1_000_001


@dataclass(frozen=True)
class Agency:
    """The generated account: `entries_per_day` counts per person and working day.

    History ends yesterday by default: with it ending today the simulator stamps the newest
    entries "now", and the daily sync's five-minute cursor overlap would read them again,
    which says nothing about a real day's cost."""

    people: int = 1000
    projects: int = 200
    clients: int = 40
    days: int = 365
    entries_per_day: float = 3.0
    seed: int = 1
    end_date: date = field(default_factory=lambda: datetime.now(UTC).date() - timedelta(days=1))

    def args(self) -> list[str]:
        return [
            f"--end-date={self.end_date.isoformat()}",
            f"--people={self.people}",
            f"--projects={self.projects}",
            f"--clients={self.clients}",
            f"--days={self.days}",
            f"--entries-per-day={self.entries_per_day}",
            f"--seed={self.seed}",
        ]


class Simulator:
    """A started simulator; `stop()` ends it."""

    def __init__(
        self,
        env: BenchEnv,
        agency: Agency,
        *,
        rate_limit: bool,
        accounts: int = 1,
        ready_timeout_s: float = 300,
    ):
        self.accounts = accounts
        self.port = _free_port()
        self.token = secrets.token_urlsafe(18)
        self.base_url = f"http://127.0.0.1:{self.port}/v2"
        self.control_url = f"http://127.0.0.1:{self.port}/_sim"
        args = [procs.CLI, "simulator", "--host=127.0.0.1", f"--port={self.port}", *agency.args()]
        args += [f"--account-id={HARVEST_ACCOUNT_ID}", f"--accounts={accounts}"]
        if not rate_limit:
            args.append("--no-rate-limit")
        self.proc = procs.start("simulator", args, {**env.env(), "SIMULATOR_TOKEN": self.token}, env.workdir)
        self._http = requests.Session()
        try:
            self._wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        # Generating ~750k entries takes tens of seconds; the port opens when it is done.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError(f"simulator exited:\n{self.proc.tail()}")
            try:
                if self._http.get(f"{self.control_url}/health", timeout=5).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # bound but still generating: the connection waits in the backlog
            time.sleep(0.25)
        raise RuntimeError(f"simulator not ready after {timeout_s:.0f}s")

    def tenant(self, index: int) -> tuple[int, str]:
        """(Harvest account id, token) of the simulator's `index`-th account (0: the first)."""
        from simulator.cli import tenant_token

        return HARVEST_ACCOUNT_ID + index, tenant_token(self.token, index)

    def stop(self) -> None:
        self.proc.stop()
        self._http.close()

    def counts(self) -> dict[str, int]:
        return self._get(f"/accounts/{HARVEST_ACCOUNT_ID}")["counts"]

    def stats(self) -> dict[str, Any]:
        return self._get("/stats")

    def reset_stats(self) -> None:
        self._http.post(f"{self.control_url}/stats/reset", timeout=10).raise_for_status()

    def configure(self, **settings: Any) -> None:
        self._http.post(f"{self.control_url}/config", json=settings, timeout=10).raise_for_status()

    def advance_clock(self, seconds: int) -> None:
        """Harvest's clock (its Date headers and updated_at stamps) moves on by `seconds`."""
        resp = self._http.post(f"{self.control_url}/clock", json={"advance_seconds": seconds}, timeout=10)
        resp.raise_for_status()

    def update_entry(self, entry_id: int, fields: dict[str, Any]) -> None:
        url = f"{self.control_url}/accounts/{HARVEST_ACCOUNT_ID}/time_entries/{entry_id}"
        self._http.patch(url, json=fields, timeout=10).raise_for_status()

    def delete_entry(self, entry_id: int) -> None:
        url = f"{self.control_url}/accounts/{HARVEST_ACCOUNT_ID}/time_entries/{entry_id}"
        self._http.delete(url, timeout=10).raise_for_status()

    def _get(self, path: str) -> Any:
        resp = self._http.get(f"{self.control_url}{path}", timeout=30)
        resp.raise_for_status()
        return resp.json()


class RequestClock:
    """Samples the simulator's request counter in the background: when the first and the last
    request of a run arrived, to 50 ms, without touching the client under test."""

    def __init__(self, sim: Simulator, interval_s: float = 0.05) -> None:
        self._sim = sim
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.samples: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, name="request-clock", daemon=True)

    def __enter__(self) -> RequestClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        http = requests.Session()
        try:
            while not self._stop.is_set():
                count = http.get(f"{self._sim.control_url}/stats", timeout=5).json()["requests"]
                self.samples.append((time.monotonic(), count))
                self._stop.wait(self._interval_s)
        finally:
            http.close()

    def span(self) -> tuple[int, float]:
        """(requests, seconds from the first request to the last) seen while running."""
        if not self.samples or self.samples[-1][1] == 0:
            return 0, 0.0
        final = self.samples[-1][1]
        first = next(t for t, n in self.samples if n > 0)
        last = next(t for t, n in self.samples if n == final)
        return final, last - first

    def windows(self, window_s: float) -> list[int]:
        """Requests in each `window_s` window that starts at a sample between the first request
        and `window_s` before the last (the sliding windows Harvest's limit counts in)."""
        times = [t for t, _ in self.samples]
        counts = [n for _, n in self.samples]
        start = next((i for i, n in enumerate(counts) if n > 0), None)
        if start is None:
            return []
        start = max(0, start - 1)  # the window opens just before the first request arrived
        last = next(t for t, n in self.samples if n == counts[-1])
        out = []
        for i in range(start, len(times)):
            if times[i] + window_s > last:
                break
            j = bisect_right(times, times[i] + window_s) - 1
            out.append(counts[j] - counts[i])
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
