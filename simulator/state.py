"""Everything a running simulator knows: accounts, credentials, settings, limiter, stats."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from simulator.config import SimConfig
from simulator.gen_common import Sizes
from simulator.generate import generate_account
from simulator.hooks import ListingHooks
from simulator.limits import FaultInjector, RateLimiter
from simulator.outage import Outage
from simulator.stats import Stats
from simulator.store import AccountStore
from simulator.timeutil import Clock


class SimulatorState:
    """Shared by the HTTP handlers (v2 routes and control API) and the Python API."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.config = SimConfig()
        self.limiter = RateLimiter()
        self.reports_limiter = RateLimiter()
        self.hooks = ListingHooks()
        self.faults = FaultInjector()
        self.stats = Stats()
        self.outage = Outage()
        self.stopping = threading.Event()
        self._accounts: dict[int, AccountStore] = {}
        self._tokens: dict[int, str] = {}
        self._revoked: set[str] = set()
        self._forbidden: dict[int, frozenset[str]] = {}
        self._lock = threading.Lock()

    # ----- accounts ------------------------------------------------------------------
    def add_account(
        self,
        account_id: int,
        token: str,
        seed: int = 1,
        people: int = 20,
        projects: int = 10,
        clients: int = 5,
        days: int = 30,
        entries_per_day: float = 2.0,
        end_date: date | str | None = None,
    ) -> AccountStore:
        """Generate an account and register its token; an existing id raises ValueError."""
        if isinstance(account_id, bool) or not isinstance(account_id, int) or account_id < 1:
            raise ValueError("account_id must be a positive integer")
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        sizes = Sizes(people, projects, clients, days, float(entries_per_day))
        if min(people, projects, clients, days) < 0 or entries_per_day < 0:
            raise ValueError("sizes must not be negative")
        if isinstance(end_date, str):
            end_date = date.fromisoformat(end_date)
        with self._lock:
            if account_id in self._accounts:
                raise ValueError(f"account {account_id} already exists")
        store = AccountStore(account_id, self.clock)
        store.live_timers = self.config.live_timer_hours
        generate_account(store, seed, sizes, end_date)
        with self._lock:
            if account_id in self._accounts:
                raise ValueError(f"account {account_id} already exists")
            self._accounts[account_id] = store
            self._tokens[account_id] = token
        return store

    def remove_account(self, account_id: int) -> None:
        """Forget an account and its credentials."""
        with self._lock:
            self._accounts.pop(account_id, None)
            self._tokens.pop(account_id, None)
            self._forbidden.pop(account_id, None)
        self.hooks.clear(account_id)

    def account_ids(self) -> list[int]:
        """Ids of every account, ascending."""
        with self._lock:
            return sorted(self._accounts)

    def store(self, account_id: int) -> AccountStore:
        """The data store of an account (KeyError if unknown)."""
        with self._lock:
            return self._accounts[account_id]

    # ----- credentials -----------------------------------------------------------------
    def authenticate(self, token: str | None, account_id: str | None) -> AccountStore | None:
        """The account a (token, account id) pair opens, or None (answered with 401)."""
        if not token or not account_id:
            return None
        try:
            wanted = int(account_id)
        except ValueError:
            return None
        with self._lock:
            if token in self._revoked or self._tokens.get(wanted) != token:
                return None
            return self._accounts.get(wanted)

    def revoke(self, account_id: int) -> None:
        """Revoke the account's current token (every later request with it gets 401)."""
        with self._lock:
            self._revoked.add(self._tokens[account_id])

    def set_token(self, account_id: int, token: str) -> None:
        """Give the account a new token (the way a customer re-authorises after a revoke)."""
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        with self._lock:
            if account_id not in self._accounts:
                raise KeyError(account_id)
            self._tokens[account_id] = token
            self._revoked.discard(token)

    def forbid(self, account_id: int, paths: list[str]) -> None:
        """Answer 403 on these paths (or path templates) for this account; [] clears."""
        with self._lock:
            if account_id not in self._accounts:
                raise KeyError(account_id)
            self._forbidden[account_id] = frozenset(paths)

    def forbidden(self, account_id: int) -> frozenset[str]:
        """Paths answering 403 for the account."""
        return self._forbidden.get(account_id, frozenset())

    # ----- settings ----------------------------------------------------------------------
    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings (see SimConfig); returns the full configuration."""
        limits_changed = {"rate_limit_requests", "rate_limit_window_s"} & set(settings)
        reports_changed = {"reports_rate_limit_requests", "reports_rate_limit_window_s"} & set(settings)
        self.config.apply(**settings)
        if limits_changed:
            self.limiter.reset()
        if reports_changed:
            self.reports_limiter.reset()
        if "live_timer_hours" in settings:
            with self._lock:
                for store in self._accounts.values():
                    store.live_timers = self.config.live_timer_hours
        return self.config.as_dict()

    def sleep(self, seconds: float) -> None:
        """Delay an answer; returns early when the server stops."""
        if seconds > 0:
            self.stopping.wait(seconds)
