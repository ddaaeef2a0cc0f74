"""Harvest tokens are sealed at rest with Fernet (AES-128-CBC + HMAC-SHA256, authenticated).

MultiFernet takes a list of keys: the first encrypts, all decrypt, so a new key can be put in
front and the old ones removed once `admin rotate-key` has re-sealed every token.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from infra.config import ConfigError


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

    def seal(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
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
