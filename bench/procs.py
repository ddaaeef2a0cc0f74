"""Subprocesses of a bench run (simulator, workers, admin commands) and what they cost.

Peak RSS is the kernel's high-water mark (VmHWM in /proc/PID/status), so a short spike between
two samples is not missed; CPU is utime + stime from /proc/PID/stat.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CLI = str(Path(sys.executable).with_name("harvest-sync"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far, in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def broker_pid() -> int | None:
    """The OS process of the local RabbitMQ node (its Erlang VM), as the node itself tells;
    None where rabbitmqctl cannot reach it."""
    try:
        out = subprocess.run(
            ["rabbitmqctl", "eval", "os:getpid()."], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    digits = "".join(ch for ch in out if ch.isdigit())
    return int(digits) if digits else None


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def stolen_seconds() -> float:
    """CPU seconds the hypervisor gave to other guests while this machine wanted them (steal in
    /proc/stat), since boot: counted as busy above, though no process here ran in them."""
    return int(Path("/proc/stat").read_text().splitlines()[0].split()[8]) / CLOCK_TICKS


@dataclass
class Proc:
    """A started subprocess whose output goes to a log file."""

    name: str
    popen: subprocess.Popen
    log: Path
    rss_mb: float = 0.0
    cpu_s: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def sample(self) -> None:
        """Remember the peak RSS and CPU so far (they vanish with the process)."""
        if self.alive():
            self.rss_mb = max(self.rss_mb, peak_rss_mb(self.pid))
            self.cpu_s = max(self.cpu_s, cpu_seconds(self.pid))

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (workers finish the message in hand), then SIGKILL after the timeout."""
        if self._stopped:
            return
        self.sample()
        self._stopped = True
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Proc:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=_repo()
        )
    return Proc(name, popen, log)


def run(args: list[str], env: dict[str, str], *, timeout_s: float = 600.0) -> str:
    """Run a command to its end; its stdout, or an error naming it and its output."""
    started = time.monotonic()
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout_s, cwd=_repo(), check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:4])} ... failed ({done.returncode}) after {time.monotonic() - started:.1f}s:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def _repo() -> Path:
    return Path(__file__).resolve().parent.parent
