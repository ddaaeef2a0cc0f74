"""Settings from environment variables, validated once at start.

Every problem is reported as one line naming the variable, so an operator sees at once what
to fix. Nothing here connects to anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HARVEST_DEFAULT_URL = "https://api.harvestapp.com/v2"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "console")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    amqp_url: str
    secret_keys: tuple[str, ...] = field(repr=False)
    harvest_api_url: str = HARVEST_DEFAULT_URL
    harvest_user_agent: str = "harvest-sync (ops@example.com)"
    amqp_prefix: str = "harvest_sync"
    log_level: str = "info"
    log_format: str = "console"
    prefetch: int = 1
    delivery_limit: int = 5
    retry_delays: tuple[int, ...] = (5, 30, 300)
    harvest_timeout_s: float = 30.0
    # /healthz, /readyz and /metrics of workers and the scheduler; 0 turns them off.
    metrics_port: int = 9100
    # Requests per window shared by all processes per account; None: no shared limit.
    harvest_rate_limit: tuple[int, float] | None = (100, 15.0)
    # A first sync with more entries than this is split into parts that workers share.
    backfill_part_entries: int = 50_000
    # Entries per page asked of Harvest (its maximum and default: 2,000).
    harvest_per_page: int = 2000
    # Seconds one message may wait on Harvest (429s, 5xx, refused connections) before it goes
    # to the retry queue with its checkpoint: the patience budget.
    harvest_patience_s: float = 600.0
    # A sync longer than this commits its checkpoint and hands on to a message of its own, so
    # no delivery nears the broker's consumer timeout (30 minutes by default).
    max_message_s: float = 300.0
    # A message failing for a transient reason is retried for this long before it is
    # dead-lettered (the next scheduled sync catches up by itself anyway).
    transient_retry_for_s: float = 86_400.0
    # The hot statements are prepared once per database session (infra.db.prepared); off
    # behind a pooler that hands out server sessions per transaction (PgBouncer's
    # transaction pooling), which a prepared statement would not survive.
    database_prepared_statements: bool = True


DEFAULTS = {
    "DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/harvest_sync",
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2F",
}


def _require_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{name} must be a {'/'.join(schemes)} URL with a host, got {_masked(value)!r}")
    return value


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def amqp_addresses(value: str) -> tuple[str, ...]:
    """The broker addresses of an ``AMQP_URL``: its comma-separated URLs, in the given order.

    Blanks around the commas are ignored. A comma inside a user name, password or vhost
    must be written ``%2C`` (pika unquotes it).
    """
    return tuple(part.strip() for part in value.split(","))


def masked_amqp_url(value: str) -> str:
    """``AMQP_URL`` with the password of every address replaced by ``***``."""
    return ",".join(_masked(part) for part in amqp_addresses(value))


def _require_amqp_url(value: str) -> str:
    """Every comma-separated part of ``AMQP_URL`` must be an amqp/amqps URL with a host."""
    addresses = amqp_addresses(value)
    for i, address in enumerate(addresses, 1):
        try:
            parts = urlsplit(address)
            valid = parts.scheme in ("amqp", "amqps") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            valid = False
        if not valid:
            got = f"got {_masked(address)!r}"
            if len(addresses) > 1:
                got = f"address {i} of {len(addresses)} is {_masked(address)!r} in {masked_amqp_url(value)!r}"
            raise ConfigError(f"AMQP_URL must be amqp/amqps URLs with a host, separated by commas; {got}")
    return ",".join(addresses)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int(env, name, default)
    if port > 65535:
        raise ConfigError(f"{name} must be a TCP port (0 to 65535), got {port}")
    return port


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _on(env: Mapping[str, str], name: str) -> bool:
    return _choice(env, name, "on", ("on", "off")) == "on"


def load_settings(env: Mapping[str, str] | None = None, *, require_secret: bool = True) -> Settings:
    """Read and validate settings; raise ConfigError with a one-line reason on the first problem."""
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL") or DEFAULTS["DATABASE_URL"]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg2://" + database_url[len("postgresql://") :]
    _require_url("DATABASE_URL", database_url, ("postgresql+psycopg2",))
    amqp_url = _require_amqp_url(env.get("AMQP_URL") or DEFAULTS["AMQP_URL"])
    harvest_url = (env.get("HARVEST_API_URL") or HARVEST_DEFAULT_URL).rstrip("/")
    _require_url("HARVEST_API_URL", harvest_url, ("http", "https"))
    user_agent = env.get("HARVEST_USER_AGENT") or Settings.harvest_user_agent
    if "(" not in user_agent or ("@" not in user_agent and "http" not in user_agent):
        raise ConfigError(
            "HARVEST_USER_AGENT must name the app and a contact, e.g. 'harvest-sync (ops@example.com)'"
        )
    keys = tuple(k.strip() for k in (env.get("HARVEST_SYNC_SECRET_KEY") or "").split(",") if k.strip())
    if require_secret and not keys:
        raise ConfigError(
            "HARVEST_SYNC_SECRET_KEY is not set: it encrypts Harvest tokens at rest "
            "(make one with: harvest-sync admin generate-key)"
        )
    retry_raw = env.get("RETRY_DELAYS") or "5,30,300"
    try:
        retry_delays = tuple(int(x) for x in retry_raw.split(","))
    except ValueError:
        raise ConfigError(f"RETRY_DELAYS must be comma-separated seconds, got {retry_raw!r}") from None
    prefix = env.get("AMQP_PREFIX") or Settings.amqp_prefix
    if not prefix.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise ConfigError(f"AMQP_PREFIX may hold only letters, digits, '.', '_' and '-', got {prefix!r}")
    from infra.harvest.ratelimit import parse_rate_limit

    rate_raw = env.get("HARVEST_RATE_LIMIT") or "100/15"
    try:
        rate_limit = parse_rate_limit(rate_raw)
    except ValueError:
        raise ConfigError(
            f"HARVEST_RATE_LIMIT must look like 100/15 (requests/seconds) or off, got {rate_raw!r}"
        ) from None
    return Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_keys=keys,
        harvest_api_url=harvest_url,
        harvest_user_agent=user_agent,
        amqp_prefix=prefix,
        log_level=_choice(env, "LOG_LEVEL", "info", LOG_LEVELS),
        log_format=_choice(env, "LOG_FORMAT", "console", LOG_FORMATS),
        prefetch=_int(env, "PREFETCH", 1, minimum=1),
        delivery_limit=_int(env, "DELIVERY_LIMIT", 5, minimum=1),
        retry_delays=retry_delays,
        harvest_timeout_s=float(_int(env, "HARVEST_TIMEOUT_S", 30, minimum=1)),
        metrics_port=_port(env, "METRICS_PORT", 9100),
        harvest_rate_limit=rate_limit,
        backfill_part_entries=_int(env, "BACKFILL_PART_ENTRIES", 50_000),
        harvest_per_page=_per_page(env),
        harvest_patience_s=float(_int(env, "HARVEST_PATIENCE_S", 600)),
        max_message_s=float(_int(env, "MAX_MESSAGE_SECONDS", 300, minimum=1)),
        transient_retry_for_s=float(_int(env, "TRANSIENT_RETRY_FOR_S", 86_400)),
        database_prepared_statements=_on(env, "DATABASE_PREPARED_STATEMENTS"),
    )


def _per_page(env: Mapping[str, str]) -> int:
    from infra.harvest.client import MAX_PER_PAGE

    value = _int(env, "HARVEST_PER_PAGE", MAX_PER_PAGE, minimum=1)
    if value > MAX_PER_PAGE:
        raise ConfigError(
            f"HARVEST_PER_PAGE must be at most {MAX_PER_PAGE} (Harvest answers 422), got {value}"
        )
    return value


@dataclass(frozen=True)
class ConsoleSettings:
    """`harvest-sync console`: how long a sign-in lasts, and whether cookies need HTTPS."""

    session_hours: int = 8
    # Set behind HTTPS (a TLS-terminating ingress): the browser then sends the cookie only there.
    secure_cookies: bool = False


def load_console_settings(env: Mapping[str, str] | None = None) -> ConsoleSettings:
    env = os.environ if env is None else env
    hours = _int(env, "CONSOLE_SESSION_HOURS", 8, minimum=1)
    if hours > 24 * 7:
        raise ConfigError(f"CONSOLE_SESSION_HOURS must be at most 168 (a week), got {hours}")
    secure = _choice(env, "CONSOLE_SECURE_COOKIES", "false", ("true", "false")) == "true"
    return ConsoleSettings(session_hours=hours, secure_cookies=secure)
