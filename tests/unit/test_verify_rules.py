"""Comparing Harvest's time reports with our hours: pieces of at most 365 days, a person's rows
per currency summed, 0.01 h precision."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

from domain.verify import compare, default_range, pieces


class Reports:
    def __init__(self, rows: dict[str, list[dict]]) -> None:
        self.rows, self.asked = rows, []

    def report(self, kind, start, end):
        self.asked.append((kind, start, end))
        return self.rows.get(kind, [])


class Ours:
    def __init__(self, hours: dict[str, dict[int, Decimal]]) -> None:
        self.hours = hours

    def hours_by(self, subject, start, end):
        return self.hours.get(subject, {})


def test_pieces_are_at_most_a_year_and_cover_the_range():
    start, end = date(2024, 1, 1), date(2026, 3, 1)
    parts = pieces(start, end)
    assert parts[0][0] == start and parts[-1][1] == end
    assert all((b - a).days + 1 <= 365 for a, b in parts)
    assert all(b + timedelta(days=1) == c for (_, b), (c, _) in pairwise(parts))
    assert pieces(date(2026, 1, 1), date(2026, 1, 1)) == [(date(2026, 1, 1), date(2026, 1, 1))]


def test_a_persons_rows_in_two_currencies_are_one_total():
    reports = Reports(
        {
            "team": [
                {"user_id": 7, "user_name": "Ada", "total_hours": 10.5, "currency": "EUR"},
                {"user_id": 7, "user_name": "Ada", "total_hours": 2.25, "currency": "USD"},
            ],
            "projects": [{"project_id": 3, "project_name": "Site", "total_hours": 12.75}],
        }
    )
    ours = Ours({"person": {7: Decimal("12.750000")}, "project": {3: Decimal("12.75")}})
    compared = compare(reports, ours, date(2026, 1, 1), date(2026, 6, 30))
    assert [(c.subject, c.harvest_id, c.differs) for c in compared] == [
        ("person", 7, False),
        ("project", 3, False),
    ]


def test_a_cent_of_difference_is_a_difference_and_rounding_is_not():
    reports = Reports({"projects": [{"project_id": 3, "project_name": "Site", "total_hours": 1.33}]})
    assert not compare(
        reports, Ours({"project": {3: Decimal("1.334999")}}), date(2026, 1, 1), date(2026, 1, 2)
    )[0].differs
    assert compare(reports, Ours({"project": {3: Decimal("1.34")}}), date(2026, 1, 1), date(2026, 1, 2))[
        0
    ].differs


def test_hours_only_one_side_has_are_a_difference():
    reports = Reports({"projects": [{"project_id": 3, "project_name": "Site", "total_hours": 2}]})
    compared = compare(reports, Ours({"project": {4: Decimal(1)}}), date(2026, 1, 1), date(2026, 1, 2))
    assert {(c.harvest_id, c.harvest_hours, c.our_hours, c.differs) for c in compared} == {
        (3, Decimal(2), Decimal("0.00"), True),
        (4, Decimal(0), Decimal("1.00"), True),
    }


def test_a_long_range_is_asked_for_in_pieces_and_a_difference_in_any_piece_counts():
    reports = Reports({"projects": [{"project_id": 3, "project_name": "Site", "total_hours": 1}]})
    compared = compare(reports, Ours({"project": {3: Decimal(1)}}), date(2024, 1, 1), date(2025, 12, 30))
    assert len({(s, e) for _, s, e in reports.asked}) == 2  # 730 days
    assert compared[0].harvest_hours == 2 and not compared[0].differs


def test_the_default_range_is_the_accounts_history_to_today():
    today = date(2026, 12, 1)
    assert default_range(None, (date(2025, 3, 4), date(2026, 11, 30)), today) == (date(2025, 3, 4), today)
    assert default_range(date(2026, 1, 1), (date(2025, 3, 4), date(2026, 12, 24)), today) == (
        date(2026, 1, 1),
        date(2026, 12, 24),
    )
    assert default_range(None, None, today) == (today, today)
