from datetime import UTC, date, datetime, timedelta

import pytest

from domain.autofill import (
    Scheduled,
    last_finished_week,
    parse_week,
    parse_working_days,
    week_label,
    zero_days,
)

MONDAY = date(2026, 11, 16)  # 2026-W47
WEEKDAYS = (1, 2, 3, 4, 5)


def _days(keys):
    return [k[3] for k in keys]


def test_weekends_are_left_alone_by_default():
    plan = [Scheduled(1, 10, 100, MONDAY, MONDAY + timedelta(days=6), 480)]
    keys = zero_days(MONDAY, plan, working_days=WEEKDAYS, time_off={}, existing=set())
    assert _days(keys) == [MONDAY + timedelta(days=i) for i in range(5)]


def test_configured_working_days_are_used():
    plan = [Scheduled(1, 10, 100, MONDAY, MONDAY + timedelta(days=6), 480)]
    keys = zero_days(MONDAY, plan, working_days=parse_working_days("sat,sun"), time_off={}, existing=set())
    assert _days(keys) == [MONDAY + timedelta(days=5), MONDAY + timedelta(days=6)]


def test_assignment_boundaries_time_off_and_existing_actuals():
    tue, wed, thu, fri = (MONDAY + timedelta(days=i) for i in (1, 2, 3, 4))
    plan = [
        Scheduled(1, 10, 100, tue, MONDAY + timedelta(days=30), 240),  # starts mid-week
        Scheduled(1, 11, 100, MONDAY - timedelta(days=30), tue, 60),  # ends mid-week
        Scheduled(2, 10, 100, MONDAY, fri, 0),  # nothing scheduled
    ]
    keys = zero_days(
        MONDAY,
        plan,
        working_days=WEEKDAYS,
        time_off={1: [(thu, thu)]},
        existing={(1, 10, 100, wed)},  # a real actual, or an existing zero
    )
    assert keys == [(1, 10, 100, tue), (1, 10, 100, fri), (1, 11, 100, MONDAY), (1, 11, 100, tue)]


def test_the_last_finished_week_depends_on_the_account_time_zone():
    # Monday 03:00 UTC: already Monday in Berlin, still Sunday in Los Angeles.
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert week_label(last_finished_week(now, "Europe/Berlin")) == "2026-W47"
    assert week_label(last_finished_week(now, "America/Los_Angeles")) == "2026-W46"


@pytest.mark.parametrize("text", ["2026-47", "2026-W99", "W47", ""])
def test_bad_weeks_are_refused(text):
    with pytest.raises(ValueError):
        parse_week(text)


def test_week_round_trip():
    assert parse_week("2026-W47") == MONDAY
    assert week_label(MONDAY) == "2026-W47"
    assert parse_week("2021-W01") == date(2021, 1, 4)


def test_working_days_parse():
    assert parse_working_days("Mon, tue,WED") == (1, 2, 3)
    with pytest.raises(ValueError):
        parse_working_days("funday")
