"""Harvest failures, mapped onto the runtime's failure kinds."""

from __future__ import annotations

from domain.errors import AccountNeedsAttention, PermanentError, TransientError


class HarvestUnavailable(TransientError):
    """429s, 5xx, timeouts or connection errors outlasted the client's retries."""


class HarvestAuthError(AccountNeedsAttention):
    """401/403: the token is revoked or lacks permission. Retrying cannot fix it."""

    def __init__(self, status: int, path: str) -> None:
        self.status = status
        self.path = path
        kind = "rejected the token" if status == 401 else "denied access"
        super().__init__(f"Harvest {kind} ({status}) on {path}")


class HarvestRequestError(PermanentError):
    """Another 4xx: our request is wrong (bad parameter, unknown route)."""


class HarvestTokenUnusable(AccountNeedsAttention):
    """The stored token cannot even be sent (e.g. it holds a line break): a person must set it
    again. The message never quotes the token."""
