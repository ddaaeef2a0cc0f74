"""The runtime's decision table (pure; no broker needed) and the headers of the copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import (
    AccountNeedsAttention,
    MalformedMessage,
    PermanentError,
    TransientError,
)
from infra.amqp.connection import mask_url
from infra.amqp.delivery import Delivery
from infra.amqp.outcomes import Action, dead_letter_headers, decide, retry_headers


def _delivery(*, delivery_count: int = 0, retry_count: int = 0, **headers) -> Delivery:
    return Delivery(
        queue="entities",
        body=b"{}",
        message_id="m1",
        type="SyncIt",
        headers=headers,
        redelivered=delivery_count > 0,
        delivery_count=delivery_count,
        retry_count=retry_count,
    )


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _decide(exc, delivery, *, transient_retry_for_s=86_400, delivery_limit=5, retry_tiers=3):
    return decide(
        exc,
        delivery,
        now=NOW,
        transient_retry_for_s=transient_retry_for_s,
        delivery_limit=delivery_limit,
        retry_tiers=retry_tiers,
    )


def test_success_is_acked() -> None:
    assert _decide(None, _delivery()).action is Action.ACK


@pytest.mark.parametrize(("retry_count", "tier"), [(0, 0), (1, 1), (2, 2), (3, 2), (9, 2)])
def test_transient_errors_climb_the_retry_tiers_and_stay_on_the_last(retry_count: int, tier: int) -> None:
    outcome = _decide(TransientError("429"), _delivery(retry_count=retry_count))

    assert (outcome.action, outcome.retry_tier, outcome.reason) == (Action.RETRY, tier, "429")


def test_transient_errors_past_the_time_bound_are_dead_lettered() -> None:
    first = (NOW - timedelta(days=1)).isoformat()
    outcome = _decide(TransientError("429"), _delivery(retry_count=290, **{"x-first-failed-at": first}))

    assert outcome.action is Action.DEAD_LETTER
    assert outcome.reason == "gave up after 290 retries over 1 day: 429"
    assert outcome.error_type == "TransientError"


@pytest.mark.parametrize("exc", [PermanentError("x"), MalformedMessage("x"), AccountNeedsAttention("x")])
def test_permanent_errors_are_dead_lettered_at_once_even_on_a_first_delivery(exc) -> None:
    outcome = _decide(exc, _delivery())

    assert (outcome.action, outcome.error_type) == (Action.DEAD_LETTER, type(exc).__name__)


@pytest.mark.parametrize(
    ("delivery_count", "action"),
    [(0, Action.REQUEUE), (3, Action.REQUEUE), (4, Action.DEAD_LETTER), (7, Action.DEAD_LETTER)],
)
def test_unexpected_errors_requeue_until_the_last_delivery_before_the_limit(
    delivery_count: int, action: Action
) -> None:
    outcome = _decide(KeyError("k"), _delivery(delivery_count=delivery_count))

    assert outcome.action is action
    assert outcome.error_type == "KeyError"


def test_an_exception_without_a_message_is_described_by_its_type() -> None:
    assert _decide(RuntimeError(), _delivery()).reason == "RuntimeError"


def test_retry_copy_counts_the_retry_and_drops_broker_headers() -> None:
    delivery = _delivery(
        retry_count=1, account_id=7, **{"x-delivery-count": 3, "x-death": [{}], "x-first-death-queue": "q"}
    )
    outcome = _decide(TransientError("e" * 2000), delivery)

    headers = retry_headers(delivery, outcome)

    assert headers["x-retry-count"] == 2
    assert len(headers["x-last-error"]) == 500
    assert headers["account_id"] == 7
    assert not {"x-delivery-count", "x-death", "x-first-death-queue"} & headers.keys()


def test_dead_letter_copy_says_why_what_where_and_when() -> None:
    delivery = _delivery(retry_count=2, **{"x-dead-letter-count": 1, "x-delivery-count": 1})
    outcome = _decide(MalformedMessage("no account_id"), delivery)

    headers = dead_letter_headers(delivery, outcome)

    assert headers["x-error-reason"] == "no account_id"
    assert headers["x-error-type"] == "MalformedMessage"
    assert headers["x-original-queue"] == "entities"
    assert headers["x-failed-at"].endswith("+00:00")
    assert headers["x-retry-count"] == 2
    assert headers["x-dead-letter-count"] == 2
    assert "x-delivery-count" not in headers


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("amqp://guest:s3cret@rabbit:5672/%2F") == "amqp://guest:***@rabbit:5672/%2F"
    assert mask_url("amqp://rabbit/%2F") == "amqp://rabbit/%2F"
