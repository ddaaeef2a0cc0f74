"""A run's progress in words, from whatever keys of the progress contract its row has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producers.progress import RunProgress

STARTED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def run(progress: dict, *, status: str = "running", kind: str = "actuals") -> dict:
    return {"kind": kind, "status": status, "started_at": STARTED, "progress": progress}


def at(seconds: float) -> str:
    return (STARTED + timedelta(seconds=seconds)).isoformat()


def test_every_key_of_the_contract():
    p = RunProgress.of(
        run(
            {
                "pages": 2,
                "entries": 4000,
                "total_entries": 10000,
                "retries": 2,
                "waiting": "Harvest unavailable, retrying in 30 s",
                "at": at(20),
            }
        )
    )
    assert p.line() == (
        "actuals running: 4,000/10,000 entries (40%), 2 pages, 200 entries/s, ETA 30 s, 2 retries, "
        "waiting for Harvest: Harvest unavailable, retrying in 30 s"
    )


@pytest.mark.parametrize(
    ("progress", "status", "expected"),
    [
        ({}, "queued", "no progress reported yet"),
        # Today's consumers: pages and the run's counters only.
        # (Without the worker's `at`, the rate is reckoned up to now.)
        ({"pages": 1, "entries.received": 2000}, "running", "2,000 entries, 1 page, 20 entries/s"),
        # No total: no share and no ETA, but a rate from the worker's own clock.
        ({"entries": 600, "at": at(60)}, "running", "600 entries, 10 entries/s"),
        # A long backfill's ETA in minutes and hours.
        ({"entries": 1000, "total_entries": 200_000, "at": at(10)}, "running", "ETA 33 min 10 s"),
        ({"entries": 100, "total_entries": 1_000_000, "at": at(10)}, "running", "ETA 27 h 46 min"),
        # Finished or waiting in the queue: no ETA.
        (
            {"entries": 500, "total_entries": 1000, "at": at(10)},
            "retrying",
            "500/1,000 entries (50%), 50 entries/s",
        ),
        # An entity run: counters only, nothing about entries.
        ({"clients.created": 3}, "running", "no progress reported yet"),
        # Junk in the row is ignored, not shown.
        ({"entries": "many", "pages": True, "at": "yesterday"}, "running", "no progress reported yet"),
    ],
)
def test_absent_or_unknown_keys_are_left_out(progress, status, expected):
    detail = RunProgress.of(run(progress, status=status), now=STARTED + timedelta(seconds=100)).detail()
    assert detail.endswith(expected) if expected.startswith("ETA") else detail == expected
    if status != "running":
        assert "ETA" not in detail


def test_a_run_not_started_yet_has_no_rate():
    assert RunProgress.of({**run({"entries": 10}), "started_at": None}).rate is None
