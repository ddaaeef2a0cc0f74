"""A throwaway RabbitMQ node of a test's own, next to the machine's broker and apart from it.

Some behaviour can only be tested with broker settings the shared broker must not get (a
short ``dead_letter_worker_publisher_confirm_timeout``, later clustering), and tests never
change what they did not create. :class:`PrivateNode` starts one more node from the locally
installed ``rabbitmq-server``, with everything of its own::

    with PrivateNode(
        "hs-dlx",
        advanced_config=["{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 2000}]}"],
    ) as node:
        connect_to(node.amqp_url)  # amqp://guest:guest@127.0.0.1:<port>/%2F
        node.ctl("eval", "node().")

What the node gets, all under one temporary directory removed on exit:

* its node name, ``<name>-<pid>@<host>`` (``localhost`` by default);
* its ``rabbitmq.conf``: a single AMQP listener on ``127.0.0.1:<amqp_port>`` plus
  ``config_lines`` (new-style ``key = value`` lines); a file of its own is needed because
  the system one pins the shared broker's port;
* its ``advanced.config``, made of ``advanced_config`` (Erlang terms such as
  ``{rabbit, [...]}``, without the enclosing list or the final dot);
* its distribution port, mnesia and log directories, pid file and an empty
  enabled-plugins file.

Ports default to free ones the OS picks (they are free when picked; in the moment before
the node binds them another process could take one, and the start then fails with the log
tail). The system ``rabbitmq-env.conf`` still applies (its ``NODENAME`` is overridden).

Ownership and the Erlang cookie: run as root, the Debian scripts drop to the ``rabbitmq``
user (``su rabbitmq``), for the server and for ``rabbitmqctl`` alike, so both use
``/var/lib/rabbitmq/.erlang.cookie`` and the CLI can talk to the node; the directory is
therefore handed to ``rabbitmq`` when running as root. Run as any other user (a generic
install), server and CLI run as that user and share its ``~/.erlang.cookie``. Several nodes
started this way share that cookie too, so they can be clustered with ``ctl``
(``stop_app``, ``join_cluster <other.node>``, ``start_app``). The node registers its name
with the machine's epmd (and starts one if none runs; that epmd is left running).

``kill`` sends SIGKILL to the node's OS processes and keeps its directory; ``relaunch``
starts it again from there, with the same name and ports (a crashed node coming back).

``start`` waits until the rabbit app runs (``rabbitmqctl wait <pidfile>``; a node that dies
while starting fails at once); ``launch`` and ``wait_until_running`` are its two halves, for
starting several nodes at a time. ``stop`` (also on exit, and after a failed start) stops
the node, kills its OS process if it is still there, and removes the directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

SERVER = "rabbitmq-server"
CTL = "rabbitmqctl"
# The Debian packaging runs the server as this user when started by root.
SERVICE_USER = "rabbitmq"


def installed() -> bool:
    """Whether this machine can start a node: ``rabbitmq-server`` and ``rabbitmqctl`` exist."""
    return bool(shutil.which(SERVER) and shutil.which(CTL))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateNodeError(RuntimeError):
    """The node did not start (or could not be reached); the message ends with its log tail."""


class PrivateNode:
    """One RabbitMQ node of a test's own; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        host: str = "localhost",
        amqp_port: int | None = None,
        dist_port: int | None = None,
        config_lines: Sequence[str] = (),
        advanced_config: Sequence[str] = (),
        start_timeout: float = 60.0,
    ) -> None:
        self.node = f"{name}-{os.getpid()}@{host}"
        self.amqp_port = amqp_port or free_port()
        self.dist_port = dist_port or free_port()
        self.config_lines = tuple(config_lines)
        self.advanced_config = tuple(advanced_config)
        self.start_timeout = start_timeout
        self.base_dir: Path | None = None
        # Seconds from launch until the rabbit app ran, once started.
        self.started_in: float | None = None
        self._launched_at = 0.0

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    @property
    def pid_file(self) -> Path:
        return self._dir() / "node.pid"

    @property
    def log_file(self) -> Path:
        return self._dir() / "log" / f"{self.node}.log"

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> str:
        """Start the node and wait until it accepts connections; returns its AMQP URL."""
        self.launch()
        self.wait_until_running()
        return self.amqp_url

    def launch(self) -> None:
        """Write the node's files and start it detached (returns before it is up)."""
        if self.base_dir is not None:
            raise RuntimeError(f"{self.node} was already launched")
        if not installed():
            raise PrivateNodeError(f"{SERVER} and {CTL} are needed to start a private node")
        # Directly under the system temp dir: the service user must be able to reach it,
        # which pytest's per-user (0700) tmp_path would not allow.
        self.base_dir = Path(tempfile.mkdtemp(prefix=f"{self.node.split('@')[0]}-"))
        self.base_dir.chmod(0o755)
        self._write_files()
        self._spawn()

    def relaunch(self) -> None:
        """Start a killed node again, with its name, ports, data and logs (then wait as after
        ``launch``); the way a crashed machine's node comes back."""
        if self._pids():
            raise RuntimeError(f"{self.node} is still running")
        # A stale pid file would make `rabbitmqctl wait` watch the dead process.
        self.pid_file.unlink(missing_ok=True)
        self._spawn()

    def kill(self) -> None:
        """``kill -9`` the node's OS processes and wait until they are gone; its files stay."""
        self._kill_leftovers()
        if self._pids():
            raise PrivateNodeError(f"{self.node} survived SIGKILL: {sorted(self._pids())}")

    def wait_until_running(self) -> None:
        """Wait for the pid file, the node and then its rabbit app (``rabbitmqctl wait``)."""
        remaining = max(1.0, self.start_timeout - (time.monotonic() - self._launched_at))
        try:
            self.ctl("wait", "--timeout", str(int(remaining)), str(self.pid_file), timeout=remaining + 10)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise PrivateNodeError(f"{self.node} did not start: {_output(exc)}{self._tail()}") from exc
        self.started_in = time.monotonic() - self._launched_at

    def stop(self) -> None:
        """Stop the node, kill what is left of it, remove its directory (idempotent)."""
        if self.base_dir is None:
            return
        try:
            if self._pids():
                with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                    # With the pid file, stop returns once the OS process has exited.
                    self.ctl("stop", str(self.pid_file), timeout=60)
            self._kill_leftovers()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> PrivateNode:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- talking to it ------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl -q -n <node> ARGS``; its stdout (CalledProcessError on failure)."""
        done = subprocess.run(
            [CTL, "-q", "-n", self.node, *args],
            env=_env_without_rabbitmq_settings(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout

    def app_setting(self, app: str, key: str) -> str:
        """An application environment value as the node holds it, e.g. ``{ok,2000}``."""
        return self.ctl("eval", f"application:get_env({app}, {key}).").strip()

    # -- internals ----------------------------------------------------------------------

    def _dir(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError(f"{self.node} is not launched")
        return self.base_dir

    def _write_files(self) -> None:
        d = self._dir()
        for sub in ("mnesia", "log"):
            (d / sub).mkdir()
        conf = [f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}", *self.config_lines]
        (d / "rabbitmq.conf").write_text("\n".join(conf) + "\n")
        (d / "advanced.config").write_text(f"[{', '.join(self.advanced_config)}].\n")
        (d / "enabled_plugins").write_text("[].\n")
        owner = _service_owner()
        if owner is not None:
            uid, gid = owner
            for path in (d, *d.rglob("*")):
                os.chown(path, uid, gid)

    def _spawn(self) -> None:
        self._launched_at = time.monotonic()
        with open(self._dir() / "launch.out", "ab") as out:
            done = subprocess.run(
                [SERVER, "-detached"],
                env=self._server_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=self.start_timeout,
                check=False,
            )
        if done.returncode != 0:
            raise PrivateNodeError(f"{SERVER} -detached exited {done.returncode}{self._tail()}")

    def _server_env(self) -> dict[str, str]:
        d = self._dir()
        return {
            **_env_without_rabbitmq_settings(),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        }

    def _pids(self) -> set[int]:
        """OS processes of this node: the pid file's, and any beam started with its name."""
        pids: set[int] = set()
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(self.pid_file.read_text().strip()))
        # A node that failed before writing its pid file may still have a beam running: the
        # node name is not on its command line, but in the environment it was started with.
        marker = f"\0RABBITMQ_NODENAME={self.node}\0".encode()
        for proc in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):
                beam = (proc / "comm").read_text().startswith("beam")
                if beam and marker in b"\0" + (proc / "environ").read_bytes():
                    pids.add(int(proc.name))
        return {pid for pid in pids if _alive(pid)}

    def _kill_leftovers(self) -> None:
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._pids() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _tail(self, lines: int = 30) -> str:
        """The launch output and the log's first error and last lines, for a failure message."""
        parts = []
        for path in (self._dir() / "launch.out", self.log_file):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()
                first_error = next((line for line in text if "[error]" in line), None)
                if first_error:
                    parts.append(f"\n--- {path.name}, first error ---\n{first_error}")
                if text:
                    parts.append(f"\n--- {path.name}, last {lines} lines ---\n" + "\n".join(text[-lines:]))
        return "".join(parts)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not a running node.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _service_owner() -> tuple[int, int] | None:
    """The uid/gid the node's files must belong to, or None to keep the current user's."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _env_without_rabbitmq_settings() -> dict[str, str]:
    """This process's environment minus RABBITMQ_* settings meant for some other node."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}


def _output(exc: subprocess.CalledProcessError | subprocess.TimeoutExpired) -> str:
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{CTL} timed out after {exc.timeout} s"
    return f"{CTL} exited {exc.returncode}: {(exc.stdout or '')}{(exc.stderr or '')}".strip()
