"""Cursor pagination (clients, users, ...) and page pagination (time entries)."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import requests

from simulator.server import SimulatorServer


def _query(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def _decode_cursor(cursor: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def test_cursor_pages_cover_every_user_once(sim: SimulatorServer, api: requests.Session, follow) -> None:
    envelopes = follow(api, f"{sim.base_url}/users", per_page=3)
    ids = [user["id"] for env in envelopes for user in env["users"]]
    truth = sorted(user["id"] for user in sim.store(1000001).list("users"))
    assert sorted(ids) == truth and len(ids) == len(set(ids)) == 20
    assert len(envelopes) == 7 == envelopes[0]["total_pages"]
    assert all(env["total_entries"] == 20 and env["per_page"] == 3 for env in envelopes)
    first, middle, last = envelopes[0], envelopes[1:-1], envelopes[-1]
    assert (first["page"], first["next_page"], first["previous_page"]) == (1, 2, None)
    for env in middle:  # newest docs: null except on the first and last pages
        assert (env["page"], env["next_page"], env["previous_page"]) == (None, None, None)
        assert env["links"]["previous"] is not None
    assert (last["page"], last["next_page"], last["previous_page"]) == (7, None, 6)
    assert last["links"]["next"] is None


def test_cursor_link_format(sim: SimulatorServer, api: requests.Session) -> None:
    body = api.get(f"{sim.base_url}/clients", params={"per_page": 2, "is_active": "true"}).json()
    next_link = body["links"]["next"]
    assert next_link.startswith(f"{sim.base_url}/clients?cursor=")
    query = _query(next_link)
    assert query == {"cursor": query["cursor"], "is_active": "true", "per_page": "2", "ref": "next_cursor"}
    assert "=" not in query["cursor"]  # no base64 padding
    assert _decode_cursor(query["cursor"]) == {"after": {"id": body["clients"][-1]["id"]}}
    assert body["links"]["first"].endswith("/clients?is_active=true&page=1&per_page=2&ref=first")
    second = api.get(next_link).json()
    prev_query = _query(second["links"]["previous"])
    assert prev_query["ref"] == "previous_cursor"
    assert _decode_cursor(prev_query["cursor"]) == {"before": {"id": second["clients"][0]["id"]}}
    # Following "previous" returns the first page again.
    assert api.get(second["links"]["previous"]).json()["clients"] == body["clients"]


def test_cursor_order_is_newest_first(sim: SimulatorServer, api: requests.Session, follow) -> None:
    envelopes = follow(api, f"{sim.base_url}/projects", per_page=4)
    keys = [(p["created_at"], p["id"]) for env in envelopes for p in env["projects"]]
    assert keys == sorted(keys, reverse=True)


def test_deprecated_page_parameter_still_works_and_cursor_wins(
    sim: SimulatorServer, api: requests.Session
) -> None:
    all_users = api.get(f"{sim.base_url}/users").json()["users"]
    page2 = api.get(f"{sim.base_url}/users", params={"page": 2, "per_page": 5}).json()
    assert page2["users"] == all_users[5:10]
    assert (page2["page"], page2["next_page"], page2["previous_page"]) == (2, 3, 1)
    first = api.get(f"{sim.base_url}/users", params={"per_page": 5}).json()
    cursor = _query(first["links"]["next"])["cursor"]
    both = api.get(f"{sim.base_url}/users", params={"page": 4, "cursor": cursor, "per_page": 5}).json()
    assert both["users"] == all_users[5:10]


def test_cursor_survives_deletion_of_its_record(sim: SimulatorServer, api: requests.Session) -> None:
    store = sim.store(1000001)
    first = api.get(f"{sim.base_url}/roles", params={"per_page": 2}).json()
    expected_rest = store.list("roles")[2:]
    store.delete("roles", first["roles"][-1]["id"])
    rest = api.get(first["links"]["next"]).json()
    assert rest["roles"] == expected_rest[: len(rest["roles"])]


def test_bad_cursor_is_422(sim: SimulatorServer, api: requests.Session) -> None:
    assert api.get(f"{sim.base_url}/clients", params={"cursor": "%%%"}).status_code == 422


def test_time_entries_page_pagination(sim: SimulatorServer, api: requests.Session, follow) -> None:
    envelopes = follow(api, f"{sim.base_url}/time_entries", per_page=100)
    entries = [e for env in envelopes for e in env["time_entries"]]
    total = envelopes[0]["total_entries"]
    assert len(entries) == total == len({e["id"] for e in entries}) > 100
    assert len(envelopes) == envelopes[0]["total_pages"] == -(-total // 100)
    for number, env in enumerate(envelopes, start=1):
        assert env["page"] == number
        assert env["previous_page"] == (number - 1 if number > 1 else None)
        assert env["next_page"] == (number + 1 if number < len(envelopes) else None)
        if env["links"]["next"]:
            assert _query(env["links"]["next"]) == {"page": str(number + 1), "per_page": "100", "ref": "next"}
    keys = [(e["spent_date"], e["id"]) for e in entries]
    assert keys == sorted(keys, reverse=True)  # newest spent_date first, then id


def test_time_entry_links_keep_filters(sim: SimulatorServer, api: requests.Session) -> None:
    params = {"from": "2024-06-01", "to": "2024-06-28", "per_page": 10}
    body = api.get(f"{sim.base_url}/time_entries", params=params).json()
    assert _query(body["links"]["next"]) == {
        "from": "2024-06-01",
        "to": "2024-06-28",
        "page": "2",
        "per_page": "10",
        "ref": "next",
    }
    assert body["links"]["last"].endswith(f"page={body['total_pages']}&per_page=10&ref=last&to=2024-06-28")


def test_page_past_the_end_is_empty(sim: SimulatorServer, api: requests.Session) -> None:
    body = api.get(f"{sim.base_url}/time_entries", params={"page": 999, "per_page": 100}).json()
    assert body["time_entries"] == [] and body["next_page"] is None and body["links"]["next"] is None


def test_empty_list_envelope(sim: SimulatorServer, api: requests.Session) -> None:
    body = api.get(f"{sim.base_url}/time_entries", params={"from": "2030-01-01"}).json()
    assert body["time_entries"] == []
    assert (body["total_entries"], body["total_pages"], body["page"], body["next_page"]) == (0, 1, 1, None)
