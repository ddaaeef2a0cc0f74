"""The fast time-entry serializer must print exactly what json.dumps of the dicts prints."""

from __future__ import annotations

import json

import requests

from simulator.render import render_time_entries
from simulator.render_fast import time_entries_json
from simulator.server import SimulatorServer


def _dicts_json(store, entries, now: int, live: bool) -> str:
    rendered = render_time_entries(store, entries, now, live)
    return json.dumps(rendered, separators=(",", ":"), ensure_ascii=False)


def test_fast_path_is_byte_identical_including_edge_values(sim: SimulatorServer) -> None:
    store = sim.store(1000001)
    sample = store.list("time_entries")[5]
    odd = store.create(
        "time_entries",
        {
            "user_id": sample["user"]["id"],
            "project_id": sample["project"]["id"],
            "notes": 'Quote " backslash \\ tab \t emoji 🚀 ünïcode\nnew line',
            "hours": 3,
            "billable_rate": 99.99,
            "cost_rate": None,
            "external_reference": {"id": "X-1", "permalink": "https://example.com/x?a=1&b=2"},
            "invoice": {"id": 5, "number": "INV-5"},
            "started_time": "9:00am",
            "is_running": True,
        },
    )
    entries = store.sorted_records("time_entries")
    before = time_entries_json(store, entries, store.now(), False)
    # Renames must reach the cached nested fragments.
    store.update("users", sample["user"]["id"], {"first_name": 'Zoë "Z"'})
    assert time_entries_json(store, entries, store.now(), False) != before
    assert any(e.id == odd["id"] for e in entries)
    for live in (False, True):
        now = store.now() + 5000
        assert time_entries_json(store, entries, now, live) == _dicts_json(store, entries, now, live)


def test_api_pages_equal_ground_truth(sim: SimulatorServer, api: requests.Session, follow) -> None:
    envelopes = follow(api, f"{sim.base_url}/time_entries", per_page=250)
    pulled = [e for env in envelopes for e in env["time_entries"]]
    assert pulled == sim.store(1000001).list("time_entries")
