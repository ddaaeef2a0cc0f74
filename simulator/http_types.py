"""Transport-neutral request and response values passed between the server and the routes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    """One parsed HTTP request; ``params`` keeps the last value of repeated query keys."""

    method: str
    path: str
    params: dict[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    host: str = "127.0.0.1"
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        value = self.headers.get(name)
        if value is None:
            lowered = name.lower()
            for key, candidate in self.headers.items():
                if key.lower() == lowered:
                    return candidate
        return value

    def json(self) -> Any:
        """The body parsed as JSON (an empty body is an empty object)."""
        if not self.body.strip():
            return {}
        return json.loads(self.body)


@dataclass
class Response:
    """What to send back. An iterator body is streamed with chunked transfer encoding.

    ``reset``: send nothing, drop the connection with a TCP reset (see ``connection_reset()``).
    """

    status: int
    body: bytes | Iterator[bytes] = b""
    content_type: str = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False


def connection_reset() -> Response:
    """No answer at all: the connection is reset, as by a host with nothing behind it."""
    return Response(0, reset=True)


def dump_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON, like Harvest's responses."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A JSON response."""
    return Response(status, dump_json(payload), headers=list(headers or []))


def html_response(status: int, html: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """An HTML response (Harvest answers 404 routes and 429s with HTML pages)."""
    return Response(status, html.encode("utf-8"), "text/html; charset=utf-8", list(headers or []))


def html_page(title: str, message: str) -> str:
    """A small HTML error page."""
    return (
        "<!DOCTYPE html>\n<html>\n<head><title>"
        f"{title}</title></head>\n<body>\n<h1>{title}</h1>\n<p>{message}</p>\n</body>\n</html>\n"
    )
