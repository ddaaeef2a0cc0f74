"""A transient failure is retried until a time bound from its first failure, then dead-lettered.

Pure: ``decide`` is given the time, and each retry's delivery is built from the headers the
previous retry copy carried, as the broker would hand it back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import TransientError
from infra.amqp.delivery import Delivery
from infra.amqp.messages import X_FIRST_FAILED_AT, header_int, header_time
from infra.amqp.outcomes import Action, Outcome, decide, format_duration, retry_headers

T0 = datetime(2026, 11, 26, 9, 30, 15, 250_000, tzinfo=UTC)
DAY_S = 86_400.0


def _delivery(headers: dict | None = None) -> Delivery:
    headers = dict(headers or {})
    return Delivery(
        queue="time_entries",
        body=b"{}",
        message_id="m1",
        type="sync_actuals",
        headers=headers,
        redelivered=False,
        delivery_count=0,
        retry_count=header_int(headers, "x-retry-count"),
    )


def _decide(delivery: Delivery, now: datetime, *, retry_for_s: float = DAY_S) -> Outcome:
    return decide(
        TransientError("Harvest answered 503"),
        delivery,
        now=now,
        transient_retry_for_s=retry_for_s,
        delivery_limit=5,
        retry_tiers=3,
    )


def _retried(delivery: Delivery, outcome: Outcome) -> Delivery:
    """The delivery the retry copy becomes once its tier's delay has passed."""
    return _delivery(retry_headers(delivery, outcome))


def test_a_first_transient_failure_is_retried_and_stamped_with_its_time() -> None:
    delivery = _delivery()

    outcome = _decide(delivery, T0)

    assert (outcome.action, outcome.retry_tier, outcome.first_failed_at) == (Action.RETRY, 0, T0)
    assert header_time(retry_headers(delivery, outcome), X_FIRST_FAILED_AT) == T0


def test_the_first_failure_time_is_kept_across_retries_and_the_last_tier_repeats() -> None:
    delivery, outcome = _delivery(), _decide(_delivery(), T0)
    tiers = [outcome.retry_tier]
    for hours in (1, 2, 5, 12, 23):
        delivery = _retried(delivery, outcome)
        outcome = _decide(delivery, T0 + timedelta(hours=hours))
        tiers.append(outcome.retry_tier)
        assert outcome.action is Action.RETRY
        assert header_time(delivery.headers, X_FIRST_FAILED_AT) == T0  # not restamped

    assert tiers == [0, 1, 2, 2, 2, 2]
    assert delivery.retry_count == 5


def test_just_before_the_bound_it_is_still_retried_however_many_retries_that_took() -> None:
    delivery = _delivery({"x-retry-count": 5_000, X_FIRST_FAILED_AT: T0.isoformat()})

    outcome = _decide(delivery, T0 + timedelta(seconds=DAY_S - 1))

    assert (outcome.action, outcome.retry_tier) == (Action.RETRY, 2)


@pytest.mark.parametrize("late", [timedelta(0), timedelta(hours=3)])
def test_at_or_past_the_bound_it_is_dead_lettered_with_how_long_it_was_retried(late: timedelta) -> None:
    delivery, outcome = _delivery(), _decide(_delivery(), T0)
    for minutes in (10, 600, 1200):
        delivery = _retried(delivery, outcome)
        outcome = _decide(delivery, T0 + timedelta(minutes=minutes))
    delivery = _retried(delivery, outcome)

    outcome = _decide(delivery, T0 + timedelta(days=1) + late)

    assert outcome.action is Action.DEAD_LETTER
    expected_span = "1 day" if not late else "1.1 days"
    assert outcome.reason == f"gave up after 4 retries over {expected_span}: Harvest answered 503"
    assert outcome.error_type == "TransientError"


def test_the_bound_is_the_setting_not_a_day() -> None:
    delivery = _retried(_delivery(), _decide(_delivery(), T0, retry_for_s=600))

    assert _decide(delivery, T0 + timedelta(minutes=9), retry_for_s=600).action is Action.RETRY
    outcome = _decide(delivery, T0 + timedelta(minutes=10), retry_for_s=600)
    assert outcome.action is Action.DEAD_LETTER
    assert outcome.reason.startswith("gave up after 1 retries over 10 min: ")


def test_an_unreadable_stamp_starts_the_clock_again_instead_of_dead_lettering() -> None:
    delivery = _delivery({"x-retry-count": 3, X_FIRST_FAILED_AT: b"yesterday-ish"})

    outcome = _decide(delivery, T0)

    assert (outcome.action, outcome.first_failed_at) == (Action.RETRY, T0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(12, "12 s"), (90, "1.5 min"), (7_200, "2 h"), (86_400, "1 day"), (86_400 * 2.5, "2.5 days")],
)
def test_durations_read_as_a_person_would_say_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
