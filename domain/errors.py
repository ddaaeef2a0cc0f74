"""Failure kinds, as types. The consumer runtime maps each kind to ack, retry or dead-letter."""


class TransientError(Exception):
    """Worth retrying later: Harvest 429/5xx/timeouts, a lost connection, a busy account lock."""


class PermanentError(Exception):
    """Retrying cannot help: malformed message, unknown account, bad token. Dead-letter now."""


class MalformedMessage(PermanentError):
    """The message could not be decoded into a known command."""


class UnknownAccount(PermanentError):
    """The command names an account that does not exist."""


class AccountNeedsAttention(PermanentError):
    """Harvest refused the account's credentials (401/403); a person must fix the token."""
