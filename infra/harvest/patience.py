"""How long one Harvest client waits on Harvest before it gives up: a budget of seconds.

Harvest's Retry-After cannot always be trusted: another app spending the same token's 100
requests per 15 s makes it too short, and it may be missing or 0. A fixed number of attempts
then fails a message after a few seconds, so the client counts seconds waited instead: 429
waits, 5xx backoffs and connection-error backoffs all draw on one budget, and a 2-minute
outage is ridden out inside one message. Waits for the shared limiter are not counted: they
are this service pacing itself, not Harvest failing.
"""

from __future__ import annotations

import random
from typing import NamedTuple

# Harvest's observed Retry-After is 15 s: one of those, or a few quick 5xx retries, fits.
INTERACTIVE_PATIENCE_S = 15.0
DEFAULT_PATIENCE_S = 600.0
# A wait shorter than this is no wait: floating sums must not leave a budget "almost spent".
_EPSILON_S = 1e-3
# 2**30 times any base is past every cap; higher exponents would only overflow.
_MAX_EXPONENT = 30


class Wait(NamedTuple):
    """One wait before a retry.

    source: retry_after (Harvest's Retry-After, honoured as given), backoff (after a 429 whose
    Retry-After was missing, 0 or proved too short) or unavailable (a 5xx or no connection).
    """

    source: str
    seconds: float


# What a caller showing progress needs to know: Harvest throttling us, or Harvest failing.
REASONS = {"retry_after": "rate_limited", "backoff": "rate_limited", "unavailable": "unavailable"}


class Patience:
    """The waiting budget of one client, and the waits of the request under way.

    Backoffs grow exponentially with the request's consecutive failures, capped, with part of
    each drawn at random (`jitter`: 0.5 waits between half and all of the step) so that workers
    refused together do not come back together. Every wait is cut to what remains of the budget.
    """

    def __init__(
        self,
        budget_s: float = DEFAULT_PATIENCE_S,
        *,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        jitter: float = 0.5,
        max_retry_after_s: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        if budget_s < 0 or backoff_base_s <= 0 or backoff_cap_s < backoff_base_s:
            raise ValueError("patience needs budget_s >= 0 and 0 < backoff_base_s <= backoff_cap_s")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")
        self.budget_s = budget_s
        self._base_s = backoff_base_s
        self._cap_s = backoff_cap_s
        self._jitter = jitter
        self._max_retry_after_s = max_retry_after_s
        self._rng = rng or random.Random()
        self.waited_s = 0.0
        self._failures = 0  # consecutive failed attempts of the request under way
        self._short_retry_afters = 0  # times its Retry-After, waited out, was answered by a 429
        self._waited_retry_after = False  # whether the last wait was what Retry-After said

    @classmethod
    def interactive(cls) -> Patience:
        """For a person waiting at a terminal or a page: seconds, not minutes."""
        return cls(INTERACTIVE_PATIENCE_S, backoff_base_s=0.25, backoff_cap_s=2.0)

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.budget_s - self.waited_s)

    @property
    def exhausted(self) -> bool:
        return self.remaining_s < _EPSILON_S

    def after_refusal(self, retry_after_s: float | None) -> Wait:
        """The wait after a 429 that said `retry_after_s` (None: no usable header)."""
        if self._waited_retry_after:
            # Refused again right after waiting what Harvest said: someone else spends the
            # token's requests, so Retry-After alone would keep us in step with the refusals.
            self._short_retry_afters += 1
        if retry_after_s is None or retry_after_s <= 0:
            wait = Wait("backoff", self._backoff_s(self._failures))
            self._waited_retry_after = False
        else:
            said = min(retry_after_s, self._max_retry_after_s)
            extra = self._backoff_s(self._short_retry_afters - 1) if self._short_retry_afters else 0.0
            wait = Wait("backoff" if extra else "retry_after", said + extra)
            self._waited_retry_after = True
        self._failures += 1
        return self._fit(wait)

    def after_failure(self) -> Wait:
        """The wait after a 5xx, a timeout or a refused connection."""
        wait = Wait("unavailable", self._backoff_s(self._failures))
        self._failures += 1
        self._waited_retry_after = False
        return self._fit(wait)

    def record(self, seconds: float) -> None:
        """Count a wait against the budget (the client calls it before sleeping)."""
        self.waited_s += max(0.0, seconds)

    def succeeded(self) -> None:
        """The request got through: the next one starts its backoff from the bottom again."""
        self._failures = 0
        self._short_retry_afters = 0
        self._waited_retry_after = False

    def _backoff_s(self, exponent: int) -> float:
        step = min(self._cap_s, self._base_s * 2 ** min(exponent, _MAX_EXPONENT))
        return step * (1.0 - self._jitter * self._rng.random())

    def _fit(self, wait: Wait) -> Wait:
        return Wait(wait.source, min(wait.seconds, self.remaining_s))
