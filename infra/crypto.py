"""Harvest tokens are sealed at rest with Fernet (AES-128-CBC + HMAC-SHA256, authenticated).

MultiFernet takes a list of keys: the first encrypts, all decrypt, so a new key can be put in
front and the old ones removed once `admin rotate-key` has re-sealed every token.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from infra.config import ConfigError

# Opened tokens a process keeps, most recently used first: a pod's share of the accounts.
OPENED_TOKENS = 4096


class TokenCipher:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ConfigError("HARVEST_SYNC_SECRET_KEY is not set: no key to seal tokens with")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError:
            raise ConfigError(
                "HARVEST_SYNC_SECRET_KEY must be comma-separated Fernet keys (32 url-safe base64 bytes)"
            ) from None
        # Every message opens its account's token: at thousands of small daily syncs a minute
        # the decryption was 2% of a worker's CPU. Keyed by the sealed bytes, so a token set
        # again (or re-sealed under a new key) is opened afresh; failures are never kept.
        self._opened = functools.lru_cache(maxsize=OPENED_TOKENS)(self._decrypt)

    def seal(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def open(self, sealed: bytes) -> str:
        return self._opened(bytes(sealed))

    def _decrypt(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise ConfigError("a stored token cannot be decrypted with HARVEST_SYNC_SECRET_KEY") from None

    def reseal(self, sealed: bytes) -> bytes:
        """Re-encrypt under the first key (key rotation)."""
        try:
            return self._fernet.rotate(bytes(sealed))
        except InvalidToken:
            raise ConfigError("a stored token cannot be decrypted with HARVEST_SYNC_SECRET_KEY") from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
