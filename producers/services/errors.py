"""The one failure type of the service functions: a one-line reason, never a secret."""

from __future__ import annotations

import pika.exceptions

# What a broker that is down or refuses raises: reported as a ServiceError, never a traceback.
BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)


class ServiceError(ValueError):
    """The action was refused; the message says why in one line."""


class InvalidInput(ServiceError):
    """One input is wrong; `field` names it (a CLI option, a form field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ServiceError):
    """The account, person, project or message named does not exist (in this account)."""
