"""Opened tokens are kept per sealed value: a token set again is opened afresh, and a token
that cannot be opened is refused every time, never kept."""

from __future__ import annotations

from unittest import mock

import pytest

from infra.config import ConfigError
from infra.crypto import TokenCipher, generate_key


def test_a_sealed_token_is_decrypted_once_a_new_one_afresh_and_a_refusal_every_time() -> None:
    cipher = TokenCipher((generate_key(),))
    first, second = cipher.seal("pat-first"), cipher.seal("pat-second")
    foreign = TokenCipher((generate_key(),)).seal("pat-of-a-lost-key")
    with mock.patch.object(cipher._fernet, "decrypt", wraps=cipher._fernet.decrypt) as decrypt:
        assert [cipher.open(first), cipher.open(memoryview(first)), cipher.open(second)] == [
            "pat-first",
            "pat-first",
            "pat-second",
        ]
        assert decrypt.call_count == 2
        for _ in range(2):
            with pytest.raises(ConfigError, match="cannot be decrypted"):
                cipher.open(foreign)
        assert decrypt.call_count == 4  # a refusal is tried again, not kept
