"""The console's pure rules: how failed sign-ins slow the next one, how a run's progress is
read from whatever keys it has, the chart's scale, and where an action may send you back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.progress import read_progress
from domain.signin import FORGET_AFTER, MAX_WAIT_S, seconds_to_wait, wait_after
from producers.console.chart import weekly_chart
from producers.console.security import safe_path
from producers.services.accounts import settings_values
from producers.services.errors import InvalidInput
from producers.services.views import Week

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_few_failures_are_free_then_each_doubles_the_wait_up_to_a_cap():
    assert [wait_after(n) for n in range(6)] == [0, 0, 0, 2, 4, 8]
    assert wait_after(40) == MAX_WAIT_S


def test_the_wait_runs_from_the_last_failure_and_an_hour_forgets():
    assert seconds_to_wait(4, NOW - timedelta(seconds=1), NOW) == 3
    assert seconds_to_wait(4, NOW - timedelta(seconds=5), NOW) == 0
    assert seconds_to_wait(30, NOW - FORGET_AFTER - timedelta(seconds=1), NOW) == 0


def test_progress_from_the_contract_keys():
    started = NOW - timedelta(seconds=20)
    p = read_progress(
        {"entries": 3000, "total_entries": 4000, "at": (NOW - timedelta(seconds=5)).isoformat(), "pages": 2},
        started,
        NOW,
    )
    assert (p.entries, p.total_entries, p.pages, p.fraction) == (3000, 4000, 2, 0.75)
    assert p.rate_per_s == 200  # 3,000 entries in the 15 s until `at`
    assert p.eta_s == 5


def test_progress_tolerates_what_older_runs_or_entity_runs_lack():
    assert read_progress({}, None, NOW).fraction is None
    older = read_progress({"pages": 3, "entries.received": 600}, NOW - timedelta(seconds=6), NOW)
    assert (older.entries, older.total_entries, older.eta_s, older.rate_per_s) == (600, None, None, 100)
    odd = read_progress(
        {"entries": "many", "total_entries": True, "at": "yesterday", "waiting": 5}, None, NOW
    )
    assert (odd.entries, odd.total_entries, odd.waiting) == (None, None, None)
    assert read_progress({"entries": 5000, "total_entries": 4000}, None, NOW).fraction == 1.0


def test_the_chart_scales_bars_to_a_round_number_of_hours():
    weeks = [Week(date(2026, 11, 2), 60 * 30, 60 * 10), Week(date(2026, 11, 9), 60 * 3, 0)]
    chart = weekly_chart(weeks)
    assert [t.hours for t in chart.ticks][-1] == 50  # 40 h rounds up to 50
    tall, short = chart.bars
    assert tall.billable_height == pytest.approx(3 * tall.nonbillable_height)
    assert short.nonbillable_height == 0 and tall.billable_height == pytest.approx(10 * short.billable_height)
    assert weekly_chart([]).bars == []


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/accounts/3/people", "/accounts/3/people"),
        ("//evil.example", "/accounts"),
        ("https://evil.example", "/accounts"),
        ("/\\evil", "/accounts"),
        ("", "/accounts"),
    ],
)
def test_an_action_only_sends_you_back_to_this_console(target, expected):
    assert safe_path(target) == expected


def test_settings_are_validated_before_they_are_stored():
    values = settings_values(
        flags={"people": False, "actuals": True}, working_days=[5, 1, 1], timezone="Europe/Berlin"
    )
    assert values == {
        "import_people": False,
        "import_actuals": True,
        "working_days": [1, 5],
        "timezone": "Europe/Berlin",
    }
    assert settings_values(clear_start_date=True) == {"actuals_start_date": None}
    for wrong, field in (
        ({"working_days": []}, "working_days"),
        ({"working_days": [8]}, "working_days"),
        ({"working_days": "mon,funday"}, "working_days"),
        ({"timezone": "Nowhere/Else"}, "timezone"),
    ):
        with pytest.raises(InvalidInput) as refused:
            settings_values(**wrong)
        assert refused.value.field == field
