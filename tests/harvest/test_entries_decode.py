"""A page of time entries decoded into the model reads exactly what the general path reads,
and anything the strict decoder refuses goes down the general path, malformed entries and all."""

from __future__ import annotations

import copy

import orjson
import pytest

from consumers.entry_apply import parse_page
from domain.actuals import HarvestEntry, entry_from_harvest
from infra.harvest.entries import decode_entries_page

ENTRY = {
    "id": 636709355,
    "spent_date": "2017-03-02",
    "hours": 2.11,
    "rounded_hours": 2.25,
    "notes": 'Adding CSS styling \\u2014 "quoted"',
    "is_locked": True,
    "is_running": False,
    "billable": True,
    "created_at": "2017-06-27T15:50:15Z",
    "updated_at": "2017-06-27T16:47:14Z",
    "user": {"id": 1782959, "name": "Kim Allen"},
    "client": {"id": 5735774, "name": "ABC Corp", "currency": "USD"},
    "project": {"id": 14307913, "name": "Marketing Website", "code": "MW"},
    "task": {"id": 8083365, "name": "Graphic Design"},
    "user_assignment": {"id": 125068553, "is_project_manager": True, "budget": None},
    "task_assignment": {"id": 155502709, "billable": True, "hourly_rate": 100.0},
    "invoice": None,
    "external_reference": None,
}


def entry(**changes: object) -> dict:
    e = copy.deepcopy(ENTRY)
    for key, value in changes.items():
        if value is _MISSING:
            e.pop(key, None)
        else:
            e[key] = value
    return e


_MISSING = object()


def page(*entries: dict, next_url: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "time_entries": list(entries),
            "per_page": 2000,
            "total_entries": 41,
            "page": 1,
            "links": {"first": "f", "next": next_url, "previous": None, "last": "l"},
        }
    )


WELL_FORMED = [
    entry(),
    entry(id=1, hours=0, billable=False),
    entry(id=2, hours=None, billable=None, is_running=None),
    entry(id=3, hours=_MISSING, billable=_MISSING, is_running=_MISSING),
    entry(id=4, hours=7, is_running=True, updated_at="2026-12-01T23:59:59+02:00"),
    entry(id=5, hours=0.016666, spent_date="2026-02-28"),
    entry(id=6, hours="2.5"),  # hours as text: both read Decimal("2.5")
]


def test_a_well_formed_page_decodes_to_what_the_general_path_reads() -> None:
    doc = decode_entries_page(page(*WELL_FORMED, next_url="https://api.harvestapp.com/v2/x?page=2"))

    assert all(isinstance(e, HarvestEntry) for e in doc["time_entries"])  # the fast path
    assert doc["time_entries"] == [entry_from_harvest(e) for e in WELL_FORMED]
    assert [e.updated_at.utcoffset() for e in doc["time_entries"]] == [
        entry_from_harvest(e).updated_at.utcoffset() for e in WELL_FORMED
    ]
    assert doc["total_entries"] == 41
    assert doc["links"] == {"next": "https://api.harvestapp.com/v2/x?page=2"}


@pytest.mark.parametrize(
    "odd",
    [
        entry(id="77"),  # an id as text: the general path reads it
        entry(user=None),  # unreadable: set aside as malformed
        entry(spent_date="20170302"),  # another date form the general path accepts
        entry(billable="yes"),
        entry(project=_MISSING),
    ],
)
def test_anything_the_strict_decoder_refuses_takes_the_general_path(odd: dict) -> None:
    body = page(entry(id=10), odd)

    doc = decode_entries_page(body)

    assert doc == orjson.loads(body)  # plain JSON, read entry by entry as before
    general = parse_page(orjson.loads(body)["time_entries"])
    assert parse_page(doc["time_entries"]) == general


def test_an_unreadable_entry_is_set_aside_not_the_page() -> None:
    parsed = parse_page(decode_entries_page(page(entry(id=10), entry(id=11, user=None)))["time_entries"])

    assert list(parsed.newest) == [10]
    assert [i for i, _ in parsed.malformed] == [11]
    assert parsed.ids == [10, 11]


def test_an_empty_page_and_a_page_without_links() -> None:
    assert decode_entries_page(orjson.dumps({"time_entries": []})) == {
        "time_entries": [],
        "total_entries": None,
        "links": None,
    }


def test_a_body_that_is_not_json_fails_as_before() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        decode_entries_page(b"<html>502</html>")
