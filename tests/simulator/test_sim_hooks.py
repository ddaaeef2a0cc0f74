"""Users working while a client pages: mutations after page K of a /time_entries listing, and
Harvest's clock in the Date header."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import requests

from simulator.server import SimulatorServer
from tests.simulator.conftest import ACCOUNT_ID

ENTRIES = "/time_entries"


def _hooks(sim: SimulatorServer, method: str = "GET", **kwargs: object) -> requests.Response:
    url = f"{sim.control_url}/accounts/{ACCOUNT_ID}/hooks"
    return requests.request(method, url, timeout=10, **kwargs)  # type: ignore[arg-type]


def _ids(envelopes: list[dict]) -> list[int]:
    return [e["id"] for env in envelopes for e in env["time_entries"]]


def test_a_deletion_after_page_one_shifts_a_row_past_a_naive_listing(sim, api, follow):
    everything = _ids(follow(api, f"{sim.base_url}{ENTRIES}"))
    victim = everything[0]
    created = _hooks(sim, "POST", json={"after_page": 1, "mutations": [{"op": "delete", "id": victim}]})
    assert created.status_code == 201, created.text
    pages = follow(api, f"{sim.base_url}{ENTRIES}", per_page=10)
    seen = _ids(pages)
    # The row that was 11th slid onto page 1 after it was read: page numbers never show it.
    assert everything[10] not in seen and victim in seen
    assert len(set(seen)) == len(everything) - 1
    assert pages[0]["total_entries"] == len(everything) and pages[1]["total_entries"] == len(everything) - 1
    assert _hooks(sim).json()[0]["fired"] == 1


def test_a_hook_fires_once_on_the_listing_it_matches_and_not_on_counts(sim, api, follow):
    store = sim.store(ACCOUNT_ID)
    target = store.list("time_entries")[-1]
    sim.after_page(
        ACCOUNT_ID,
        1,
        lambda s: s.update("time_entries", target["id"], {"hours": 7.25}),
        match={"updated_since": True},
    )
    api.get(f"{sim.base_url}{ENTRIES}", params={"per_page": 5})  # no updated_since: not this one
    api.get(f"{sim.base_url}{ENTRIES}", params={"per_page": 1, "updated_since": "2000-01-01T00:00:00Z"})
    assert store.get("time_entries", target["id"])["hours"] != 7.25  # a count is no listing
    api.get(f"{sim.base_url}{ENTRIES}", params={"per_page": 5, "updated_since": "2000-01-01T00:00:00Z"})
    assert store.get("time_entries", target["id"])["hours"] == 7.25
    store.update("time_entries", target["id"], {"hours": 1.0})
    api.get(f"{sim.base_url}{ENTRIES}", params={"per_page": 5, "updated_since": "2000-01-01T00:00:00Z"})
    assert store.get("time_entries", target["id"])["hours"] == 1.0  # times=1


def test_between_pages_hooks_wait_for_a_page_that_has_a_next_one(sim, api, follow):
    store = sim.store(ACCOUNT_ID)
    victim = store.list("time_entries")[0]["id"]
    hook = sim.after_page(ACCOUNT_ID, 1, lambda s: s.delete("time_entries", victim), between_pages=True)
    api.get(f"{sim.base_url}{ENTRIES}", params={"per_page": 2000})  # one page: the last
    assert hook.fired == 0 and store.get("time_entries", victim) is not None
    api.get(f"{sim.base_url}{ENTRIES}", params={"per_page": 3})
    assert hook.fired == 1 and store.get("time_entries", victim) is None


def test_hooks_create_move_and_back_date_over_the_control_api(sim, api):
    store = sim.store(ACCOUNT_ID)
    entry = store.list("time_entries")[0]
    mutations = [
        {"op": "update", "id": entry["id"], "fields": {"spent_date": "2023-01-02"}},
        {"op": "create", "fields": {"user_id": entry["user"]["id"], "project_id": entry["project"]["id"],
                                    "spent_date": "2024-06-01", "hours": 2.5}},
        {"op": "delete", "id": 999},  # gone already: skipped, as a user's failed click
    ]  # fmt: skip
    assert _hooks(sim, "POST", json={"after_page": 2, "mutations": mutations}).status_code == 201
    before = len(store.list("time_entries"))
    api.get(f"{sim.base_url}{ENTRIES}", params={"per_page": 10, "page": 2})
    assert store.get("time_entries", entry["id"])["spent_date"] == "2023-01-02"
    assert len(store.list("time_entries")) == before + 1
    assert _hooks(sim, "DELETE").status_code == 204 and _hooks(sim).json() == []


def test_bad_hooks_are_refused_with_the_reason(sim):
    bad = [
        ({"after_page": 1, "mutations": []}, "mutations"),
        ({"after_page": 1, "mutations": [{"op": "rename", "id": 1}]}, "op"),
        ({"after_page": 1, "mutations": [{"op": "delete"}]}, "integer id"),
        ({"after_page": 0, "mutations": [{"op": "delete", "id": 1}]}, "after_page"),
        ({"after_page": 1, "mutations": [{"op": "delete", "id": 1}], "when": "later"}, "unknown key"),
        ({"after_page": 1, "match": {"from": 3}, "mutations": [{"op": "delete", "id": 1}]}, "match"),
    ]
    for body, reason in bad:
        answer = _hooks(sim, "POST", json=body)
        assert answer.status_code == 422 and reason in answer.json()["message"], (body, answer.text)


def test_the_date_header_is_harvests_clock(sim, api):
    first = parsedate_to_datetime(api.get(f"{sim.base_url}/company").headers["Date"])
    sim.set_clock_offset(-600)
    behind = parsedate_to_datetime(api.get(f"{sim.base_url}/company").headers["Date"])
    assert 590 <= (first - behind).total_seconds() <= 610
