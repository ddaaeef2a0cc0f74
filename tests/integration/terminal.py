"""A command run as a person at a terminal runs it (on a pseudo-terminal), or with its output
going to a pipe as in CI or a log file; what it printed is read while it runs."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

CLI = str(Path(sys.executable).with_name("harvest-sync"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
# Variables that would make a library draw for a terminal it does not have, or not draw.
TERMINAL_OVERRIDES = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


class Terminal:
    """`harvest-sync ARGS` with stdin, stdout and stderr on a pty of ``columns`` x ``rows``, or
    (``tty=False``) stdout and stderr on a pipe."""

    def __init__(
        self, args: list[str], env: dict[str, str], *, tty: bool = True, columns: int = 160, rows: int = 40
    ) -> None:
        if tty:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            stdin: int = slave
        else:
            master, slave = os.pipe()
            stdin = subprocess.DEVNULL
        base = {k: v for k, v in os.environ.items() if k not in TERMINAL_OVERRIDES}
        self.proc = subprocess.Popen(
            [CLI, *args],
            stdin=stdin,
            stdout=slave,
            stderr=slave,
            env={**base, **env, "TERM": "xterm-256color"},
            close_fds=True,
        )
        os.close(slave)
        self._master = master
        self._raw = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            with self._lock:
                self._raw += chunk

    @property
    def raw(self) -> str:
        with self._lock:
            return self._raw.decode("utf-8", "replace")

    @property
    def text(self) -> str:
        """What was drawn, without the escape sequences."""
        return ANSI.sub("", self.raw)

    def wait_for(self, needle: str, timeout_s: float = 20) -> float:
        """Wait until ``needle`` is shown; when it was seen (time.monotonic, within 50 ms)."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.text:
            exited = self.proc.poll() is not None
            if exited:
                self._reader.join(timeout=2)  # what it drew last may still be in the pty
            if needle in self.text:
                break
            if exited or time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never shown; the terminal shows:\n{self.text[-3000:]}")
            time.sleep(0.05)
        return time.monotonic()

    def finish(self, timeout_s: float = 30) -> int:
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        os.close(self._master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
