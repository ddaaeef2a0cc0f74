"""`harvest-sync scheduler`: publishes each account's daily syncs and weekly autofill.

Several replicas may run: a slot is claimed by inserting its row, in the same transaction that
publishes the command, committed after the broker confirmed it; a competing replica's insert
waits on that row and then does nothing. After downtime, slots missed within the catch-up
window are published once each. Consumers also drop duplicate message ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from domain.clock import utcnow
from domain.schedule import Slot, due_slots
from infra import messages
from infra.app import App
from infra.db import schedule as repo

log = structlog.get_logger(__name__)
BATCH = 2000


class Scheduler:
    def __init__(
        self,
        app: App,
        *,
        clock: Callable[[], datetime] = utcnow,
        catch_up: timedelta = timedelta(days=2),
        publisher: object | None = None,
        on_tick: Callable[[bool, int], None] | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.catch_up = catch_up
        self._publisher = publisher
        self._stop = threading.Event()
        # (succeeded, published) after each tick of run(), e.g. for metrics.
        self._on_tick = on_tick
        # None until run() finished a tick; then whether the last one succeeded (readiness).
        self.last_tick_ok: bool | None = None

    def tick(self, now: datetime | None = None) -> int:
        """Publish every due, unpublished slot; return how many this replica published."""
        now = now or self.clock()
        since = now - self.catch_up
        with self.app.engine.connect() as conn:
            accounts = repo.schedulable_accounts(conn)
            done = repo.published_since(conn, since)
        pending = [
            s for s in due_slots(accounts, now, self.catch_up) if (s.account_id, s.kind, s.at) not in done
        ]
        published = 0
        for i in range(0, len(pending), BATCH):
            published += self._claim_and_publish(pending[i : i + BATCH])
        if published:
            log.info("slots_published", count=published, pending=len(pending))
        return published

    def _claim_and_publish(self, batch: list[Slot]) -> int:
        from infra.amqp.publisher import OutgoingMessage

        with self.app.engine.connect() as conn, conn.begin():
            mine = repo.claim(conn, batch)
            outgoing = []
            for slot in batch:
                if (slot.account_id, slot.kind, slot.at) in mine:
                    type_, body = messages.encode(slot.command)
                    outgoing.append(
                        OutgoingMessage(
                            queue=slot.command.route.queue,
                            body=body,
                            message_id=slot.command.message_id,
                            type=type_,
                            headers={"x-slot": slot.at.isoformat()},
                        )
                    )
            if outgoing:
                # An exception here rolls the claims back, so the next tick tries again.
                self._publisher_or_new().publish_many(outgoing)
        return len(outgoing)

    def _publisher_or_new(self):  # type: ignore[no-untyped-def]
        if self._publisher is None:
            self._publisher = self.app.publisher()
        return self._publisher

    def run(self, interval_s: float = 30.0) -> None:
        """Tick until stop(); a failing tick is logged and retried at the next one."""
        while not self._stop.is_set():
            try:
                published = self.tick()
            except Exception:
                log.exception("scheduler_tick_failed")
                # A broken publisher is rebuilt on the next tick.
                self._close_publisher()
                self._tick_done(False, 0)
            else:
                self._tick_done(True, published)
            self._stop.wait(interval_s)
        self._close_publisher()

    def stop(self) -> None:
        self._stop.set()

    def _tick_done(self, ok: bool, published: int) -> None:
        self.last_tick_ok = ok
        if self._on_tick is not None:
            try:
                self._on_tick(ok, published)
            except Exception:
                # A broken metrics hook must not stop the scheduling.
                log.exception("on_tick_hook_failed")

    def _close_publisher(self) -> None:
        if self._publisher is not None:
            try:
                self._publisher.close()  # type: ignore[attr-defined]
            except Exception:
                log.warning("publisher_close_failed")
            self._publisher = None
