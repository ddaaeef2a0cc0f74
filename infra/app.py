"""The adapter bundle: settings, engine, token cipher, Harvest clients, publisher, metrics, and
the dispatch of a delivery to its handler. It builds adapters, never handlers: the handler
table is wired above the layers (harvest_sync.bootstrap), which hands it to the App.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import sqlalchemy as sa

from domain.accounts import AccountRecord
from domain.clock import Clock, utcnow
from domain.commands import Command
from domain.errors import AccountNeedsAttention, MalformedMessage
from infra import messages
from infra.config import ConfigError, Settings, load_settings
from infra.crypto import TokenCipher
from infra.db.engine import make_engine
from infra.db.uow import UnitOfWork
from infra.harvest.client import HarvestClient, shared_session
from infra.harvest.patience import Patience
from infra.harvest.ratelimit import SharedRateLimit, bucket_limits
from infra.observability.metrics import Metrics

# Slots one round trip to the shared limit takes, per bucket. Four cover a small account's
# whole daily sync (three requests). The reports window is 900 s: a leased slot left unused
# there holds a request back for 15 minutes, so reports take one at a time.
SHARED_LIMIT_LEASE = {"api": 4, "reports": 1}


@dataclass
class App:
    settings: Settings
    engine: sa.Engine
    cipher: TokenCipher
    clock: Clock = utcnow
    harvest_factory: Callable[[AccountRecord], HarvestClient] | None = None
    handlers: dict[type, Callable[[Any], Any]] = field(default_factory=dict)
    # Its own registry per App: tests build many Apps in one process.
    metrics: Metrics = field(default_factory=Metrics)
    _session: requests.Session | None = field(default=None, init=False, repr=False)
    _session_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def uow(self, account_id: int | None = None) -> UnitOfWork:
        """A unit of work; for an account, it also hands out that account's repositories."""
        return UnitOfWork(self.engine, account_id)

    def harvest_for(
        self,
        account: AccountRecord,
        on_wait: Callable[[str, float], None] | None = None,
        *,
        interactive: bool = False,
    ) -> HarvestClient:
        """A Harvest client for one message of `account`.

        It waits on Harvest for up to HARVEST_PATIENCE_S, telling `on_wait(reason, seconds)`
        before each wait; `interactive` (a person is waiting) gives it seconds instead. Its
        requests go through the account's shared limits, which learn from its 429s. A test's
        `harvest_factory`, if set, is given the account alone and builds the client itself.
        """
        if self.harvest_factory is not None:
            return self.harvest_factory(account)
        hooks = self.metrics.harvest_hooks()  # responses by status and path, waits by source
        limiters = self._shared_limits(account, hooks.shared_limit_wait)
        patience = Patience.interactive() if interactive else Patience(self.settings.harvest_patience_s)
        return HarvestClient(
            self.settings.harvest_api_url,
            session=self._harvest_session(),
            token=self._open_token(account),
            harvest_account_id=account.harvest_account_id,
            user_agent=self.settings.harvest_user_agent,
            timeout_s=self.settings.harvest_timeout_s,
            patience=patience,
            throttle=limiters.get("api"),
            reports_throttle=limiters.get("reports"),
            per_page=self.settings.harvest_per_page,
            on_response=hooks.on_response,
            on_wait=on_wait,
            on_wait_source=hooks.harvest_wait,
        )

    def _harvest_session(self) -> requests.Session:
        """The process's one session towards Harvest, its connections kept between messages."""
        with self._session_lock:
            if self._session is None:
                self._session = shared_session(self.settings.harvest_api_url)
            return self._session

    def _shared_limits(
        self, account: AccountRecord, on_wait: Callable[[float], None]
    ) -> dict[str, SharedRateLimit]:
        """The account's limiter per bucket (api, reports); none when HARVEST_RATE_LIMIT=off."""
        return {
            bucket: SharedRateLimit(
                self.engine,
                account.id,
                limit=limit,
                window_s=window_s,
                bucket=bucket,
                lease=SHARED_LIMIT_LEASE.get(bucket, 1),
                on_wait=on_wait,
            )
            for bucket, (limit, window_s) in bucket_limits(self.settings.harvest_rate_limit).items()
        }

    def _open_token(self, account: AccountRecord) -> str:
        try:
            return self.cipher.open(account.token_sealed)
        except ConfigError:
            # Sealed under a key we no longer have: a person must set the token again.
            raise AccountNeedsAttention(
                "the stored token cannot be opened with HARVEST_SYNC_SECRET_KEY; run admin account set-token"
            ) from None

    def publisher(self) -> Any:
        from infra.amqp.publisher import Publisher

        s = self.settings
        return Publisher(
            s.amqp_url, prefix=s.amqp_prefix, delivery_limit=s.delivery_limit, retry_delays=s.retry_delays
        )

    def publish(self, cmd: Command, publisher: Any | None = None) -> str:
        """Publish one command (confirmed, mandatory, persistent); return its message id."""
        type_, body = messages.encode(cmd)
        if publisher is not None:
            publisher.publish(cmd.route.queue, body, message_id=cmd.message_id, type=type_)
            return cmd.message_id
        with self.publisher() as pub:
            pub.publish(cmd.route.queue, body, message_id=cmd.message_id, type=type_)
        return cmd.message_id

    def publish_many(self, commands: Sequence[Command]) -> None:
        """Publish several commands over one connection, confirms pipelined."""
        from infra.amqp import OutgoingMessage

        outgoing = []
        for cmd in commands:
            type_, body = messages.encode(cmd)
            outgoing.append(OutgoingMessage(cmd.route.queue, body, cmd.message_id, type_))
        if outgoing:
            with self.publisher() as pub:
                pub.publish_many(outgoing)

    def dispatch(self, delivery: Any) -> None:
        """Decode a delivery and run its handler, timed; errors go back to the consumer runtime."""
        with self.metrics.time_handler(delivery.queue):
            cmd = messages.decode(delivery.body)
            if not cmd.route.accepts(delivery.queue):
                raise MalformedMessage(f"{type(cmd).__name__} does not belong on queue {delivery.queue!r}")
            result = self.handlers[type(cmd)](cmd)
        # Handlers return their stats; metrics read them here so handlers stay free of metrics.
        self.metrics.record_handler_result(result)


def build_app(
    settings: Settings | None = None,
    *,
    engine: sa.Engine | None = None,
    harvest_factory: Callable[[AccountRecord], HarvestClient] | None = None,
    clock: Clock = utcnow,
) -> App:
    """The adapters from settings (the environment's unless given); no handlers."""
    settings = settings or load_settings()
    return App(
        settings=settings,
        engine=engine
        or make_engine(settings.database_url, prepared_statements=settings.database_prepared_statements),
        cipher=TokenCipher(settings.secret_keys),
        clock=clock,
        harvest_factory=harvest_factory,
    )
