"""structlog setup: JSON in production, readable in a terminal, secrets scrubbed either way."""

from __future__ import annotations

import functools
import logging
import re
import sys
from typing import Any

import orjson
import structlog

SECRET_KEYS = re.compile(r"token|secret|password|authorization|api_key", re.IGNORECASE)
BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")
LIBRARY_LOGGERS = ("pika", "urllib3")


# Neither pattern can match a string without one of these: most values are skipped in one scan.
SUSPECT = re.compile(r"bearer|://", re.IGNORECASE)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str) and SUSPECT.search(value):
        return URL_PASSWORD.sub(r"\1***@", BEARER.sub(r"\1***", value))
    return value


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    # Log lines reuse a few dozen field names: each is matched once.
    return key != "event" and SECRET_KEYS.search(key) is not None


def scrub_secrets(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: no token or password leaves the process through a log line."""
    for key, value in list(event.items()):
        if isinstance(key, str) and _secret_key(key):
            event[key] = "***"
        else:
            event[key] = _scrub_value(value)
    return event


def _json(event: dict[str, Any], **kw: Any) -> str:
    # orjson, as structlog suggests for production: a worker writes two lines per message, and
    # the standard library's encoder was a percent of its CPU at thousands of messages a minute.
    return orjson.dumps(event, default=kw.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            scrub_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries (pika, alembic) log through the standard library; keep them quiet but visible.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    quiet_libraries(level)


def quiet_libraries(level: str) -> None:
    """Below LOG_LEVEL=debug, the network libraries say nothing: every failure they log also
    reaches our code as an exception, which reports it once, in one line. A refused connection
    would otherwise print pika's ERROR lines before that line."""
    library_level = logging.DEBUG if level == "debug" else logging.CRITICAL + 1
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
