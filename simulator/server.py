"""The HTTP server: stdlib ThreadingHTTPServer with keep-alive and TCP_NODELAY.

Without TCP_NODELAY, http.server's separate header and body writes stall ~40 ms per
response on delayed ACK; here every response also goes out in a single write.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable
from datetime import date
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulator.api import handle_v2
from simulator.control import handle_control
from simulator.hooks import ListingHook
from simulator.http_types import Request, Response, html_page, html_response, json_response
from simulator.state import SimulatorState
from simulator.store import AccountStore

log = logging.getLogger("simulator.http")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "HarvestSimulator/1.0"
    sys_version = ""
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(
            method=self.command,
            path=split.path,
            params=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=self.headers,  # type: ignore[arg-type]
            body=body,
            host=host,
            scheme=self.headers.get("X-Forwarded-Proto") or "http",
        )
        try:
            response = self._route(request)
        except Exception:  # a simulator bug must not kill the connection silently
            log.exception("simulator failed on %s %s", self.command, self.path)
            response = json_response(500, {"message": "simulator internal error"})
        if response.reset:
            self._reset_connection()
        else:
            self._send(response)

    def _route(self, request: Request) -> Response:
        state = self.server.state
        if request.path == "/v2" or request.path.startswith("/v2/"):
            return handle_v2(state, request)
        if request.path == "/_sim" or request.path.startswith("/_sim/"):
            return handle_control(state, request)
        return html_response(
            404, html_page("Can't find page", "The page you were looking for doesn't exist.")
        )

    def _reset_connection(self) -> None:
        """Drop the connection with a RST, so the client gets a connection error, not an answer.

        SO_LINGER 0 turns close() into a reset; closing here (rather than in socketserver's
        shutdown_request) skips its shutdown(SHUT_WR), whose FIN would arrive first and read
        as a clean close.
        """
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the makefile() holds a reference that would defer the real close
        self.connection.close()

    def _send(self, response: Response) -> None:
        status = response.status
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"Server: {self.server_version}",
            # Harvest's clock, not ours: a client that takes its cursor from this header must
            # follow the simulated clock its updated_at stamps come from.
            f"Date: {formatdate(self.server.state.clock.now(), usegmt=True)}",
            f"Content-Type: {response.content_type}",
            *(f"{name}: {value}" for name, value in response.headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        try:
            if isinstance(response.body, bytes):
                lines.append(f"Content-Length: {len(response.body)}")
                head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
                if len(response.body) > 65536:
                    # Large bodies: two writes beat copying megabytes (Nagle is off anyway).
                    self.wfile.write(head)
                    self.wfile.write(response.body)
                else:
                    self.wfile.write(head + response.body)
                size = len(response.body)
            else:
                lines.append("Transfer-Encoding: chunked")
                self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                size = 0
                for chunk in response.body:
                    if chunk:
                        self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                        size += len(chunk)
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. an injected timeout); nothing left to tell it.
            self.close_connection = True
            return
        self.log_request(status, size)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


class SimulatorServer:
    """A Harvest API v2 simulator listening on a real port.

    The socket is bound on construction (``port=0`` picks a free port, readable from
    ``port``/``base_url`` at once); ``start()`` serves it from a background thread.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SimulatorState()
        self._httpd = _HTTPServer((host, port), self.state)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None
        self._stopped = False

    # ----- lifecycle -------------------------------------------------------------------
    def start(self) -> SimulatorServer:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"harvest-simulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (safe to call twice)."""
        if self._stopped:
            return
        self._stopped = True
        self.state.stopping.set()  # wakes handlers sleeping in injected delays
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- addresses -------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        """``http://host:port`` (a wildcard bind address is shown as 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Base URL of the Harvest API, e.g. ``http://127.0.0.1:54321/v2``."""
        return f"{self.root_url}/v2"

    @property
    def control_url(self) -> str:
        """Base URL of the control API, e.g. ``http://127.0.0.1:54321/_sim``."""
        return f"{self.root_url}/_sim"

    # ----- data and settings -----------------------------------------------------------
    def add_account(
        self,
        account_id: int,
        token: str,
        seed: int = 1,
        people: int = 20,
        projects: int = 10,
        clients: int = 5,
        days: int = 30,
        entries_per_day: float = 2,
        end_date: date | str | None = None,
    ) -> AccountStore:
        """Generate an account (end_date defaults to today UTC) and return its store."""
        return self.state.add_account(
            account_id, token, seed, people, projects, clients, days, entries_per_day, end_date
        )

    def store(self, account_id: int) -> AccountStore:
        """The account's store: create/update/delete/list/get on collections."""
        return self.state.store(account_id)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change any subset of the settings (rate limit, faults, updated_since semantics)."""
        return self.state.configure(**settings)

    def outage(self, seconds: float, mode: str = "503") -> dict[str, Any]:
        """Take /v2 down for `seconds` from now: mode "503" answers 503 (HTML, no Retry-After),
        "refuse" resets every connection as it sends a request. /_sim stays up. Returns the
        status ``{"active", "mode", "remaining_s"}``; bad values raise ValueError."""
        return self.state.outage.start(seconds, mode)

    def end_outage(self) -> None:
        """End the outage now (a no-op when none is running)."""
        self.state.outage.end()

    def revoke(self, account_id: int) -> None:
        """Revoke the account's token: requests with it get 401 from now on."""
        self.state.revoke(account_id)

    def set_token(self, account_id: int, token: str) -> None:
        """Give the account a new (valid) token."""
        self.state.set_token(account_id, token)

    def forbid(self, account_id: int, paths: list[str]) -> None:
        """Answer 403 on these /v2 paths or templates for the account; [] clears."""
        self.state.forbid(account_id, paths)

    def set_clock_offset(self, seconds: int) -> None:
        """Shift the simulated now (used for created_at/updated_at stamps)."""
        self.state.clock.set_offset(seconds)

    def after_page(
        self,
        account_id: int,
        page: int,
        action: Callable[[AccountStore], None],
        *,
        match: dict[str, str | bool] | None = None,
        times: int = 1,
        include_counts: bool = False,
        between_pages: bool = False,
    ) -> ListingHook:
        """Run `action(store)` right after page `page` of the next /time_entries listing whose
        parameters match `match` (value, or True: present, False: absent) is served
        (`between_pages`: only if that page has a next one)."""
        return self.state.hooks.add(
            account_id,
            page,
            action,
            match=match,
            times=times,
            include_counts=include_counts,
            between_pages=between_pages,
        )

    def stats(self) -> dict[str, Any]:
        """Request counters of the /v2 routes."""
        return self.state.stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.state.stats.reset()
