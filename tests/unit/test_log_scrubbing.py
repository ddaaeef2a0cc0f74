"""The log scrubber, the last line of defence: secret-named fields and secrets inside values."""

from __future__ import annotations

from infra.logging import scrub_secrets


def test_secret_named_fields_and_secrets_inside_values_are_masked() -> None:
    event = {
        "event": "token_refused",  # the event's own name is never masked
        "harvest_token": "pat-123",
        "Authorization": "Bearer pat-123",
        "error": "sent bEaReR pat-456 to Harvest",
        "url": "amqp://guest:hunter2@127.0.0.1:5672/",
        "note": "nothing to hide: 3 entries",
        "count": 3,
    }
    assert scrub_secrets(None, "info", dict(event)) == {
        "event": "token_refused",
        "harvest_token": "***",
        "Authorization": "***",
        "error": "sent bEaReR *** to Harvest",
        "url": "amqp://guest:***@127.0.0.1:5672/",
        "note": "nothing to hide: 3 entries",
        "count": 3,
    }
    # Asked again, from the cache of field names: the same answer.
    assert scrub_secrets(None, "info", {"harvest_token": "pat-789"}) == {"harvest_token": "***"}
