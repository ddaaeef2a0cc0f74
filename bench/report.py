"""Figures of a run: a table on the terminal and a dated section appended to bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    target: str = ""
    met: bool | None = None  # None: informative, no target

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("yes" if self.met else "NO")


@dataclass
class Section:
    title: str
    params: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.figures.append(Figure(name, value, target, met))

    def add_run_time(self, seconds: float, under_s: float) -> None:
        """A command's time from publish to success, against a target it must stay under."""
        self.add(
            "wall, publish -> run succeeded", f"{seconds:.2f} s", f"< {under_s:.0f} s", seconds < under_s
        )


def print_section(section: Section) -> None:
    rows = [
        ("figure", "value", "target", "met"),
        *((f.name, f.value, f.target, f.verdict) for f in section.figures),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"\n== {section.title} ({section.params})")
    for i, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    for note in section.notes:
        print(f"  note: {note}")


def machine() -> dict[str, str]:
    """What the figures depend on: cores, memory, CPU, load when the run started."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    free = _cmd(["free", "-h"]).splitlines()
    mem = next((line.split()[1] for line in free if line.startswith("Mem:")), "?")
    return {
        "cpus (nproc)": _cmd(["nproc"]).strip() or str(os.cpu_count()),
        "memory (free -h)": mem,
        "cpu model": model,
        "load average at start": " ".join(_read("/proc/loadavg").split()[:3]),
        "python": platform.python_version(),
    }


def append_results(sections: list[Section], info: dict[str, str], command: str, path: Path = RESULTS) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"\n## {when}: `{command}`\n", ""]
    lines += [f"* {k}: {v}" for k, v in info.items()]
    for section in sections:
        lines += [
            "",
            f"### {section.title} ({section.params})",
            "",
            "| figure | value | target | met |",
            "|---|---|---|---|",
        ]
        lines += [f"| {f.name} | {f.value} | {f.target} | {f.verdict} |" for f in section.figures]
        lines += [f"\n{note}" for note in section.notes]
    if not path.exists():
        path.write_text(
            "# Benchmark results\n\nAppended by `python -m bench` (see bench/README.md), newest last.\n"
        )
    with path.open("a") as out:
        out.write("\n".join(lines) + "\n")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return ""
