"""List filters: updated_since (both boundary semantics), from/to, is_active and the id filters."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from simulator.server import SimulatorServer
from simulator.timeutil import format_ts, parse_instant


def _ids(session: requests.Session, url: str, key: str, **params: object) -> set[int]:
    response = session.get(url, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_entries"] == len(body[key]), "test data must fit one page"
    return {item["id"] for item in body[key]}


@pytest.mark.parametrize("inclusive", [False, True])
def test_updated_since_boundary(sim: SimulatorServer, api: requests.Session, inclusive: bool) -> None:
    sim.configure(updated_since_inclusive=inclusive)
    store = sim.store(1000001)
    sim.set_clock_offset(1000)  # stamps land well after anything generated
    client = store.create("clients", {"name": "Boundary Client"})
    stamp = int(parse_instant(client["updated_at"]))
    url = f"{sim.base_url}/clients"
    at_stamp = _ids(api, url, "clients", updated_since=format_ts(stamp))
    assert (client["id"] in at_stamp) is inclusive
    assert _ids(api, url, "clients", updated_since=format_ts(stamp - 1)) == {client["id"]}
    assert _ids(api, url, "clients", updated_since=format_ts(stamp + 1)) == set()
    # Fractions of a second count: 0.5 s before the stamp matches either way.
    assert _ids(api, url, "clients", updated_since=format_ts(stamp - 1)[:-1] + ".5Z") == {client["id"]}


def test_updated_since_on_every_incremental_route(sim: SimulatorServer, api: requests.Session) -> None:
    store = sim.store(1000001)
    since = format_ts(sim.state.clock.now() + 50)
    sim.set_clock_offset(100)
    user = store.list("users")[0]
    project = store.list("projects")[0]
    entry = store.list("time_entries")[-1]
    ua = store.list("user_assignments")[0]
    ta = store.list("task_assignments")[0]
    store.update("users", user["id"], {"telephone": "+44 1234"})
    store.update("projects", project["id"], {"name": "Renamed"})
    store.update("time_entries", entry["id"], {"notes": "edited"})
    store.update("user_assignments", ua["id"], {"is_project_manager": not ua["is_project_manager"]})
    store.update("task_assignments", ta["id"], {"billable": not ta["billable"]})
    base = sim.base_url
    assert _ids(api, f"{base}/users", "users", updated_since=since) == {user["id"]}
    assert _ids(api, f"{base}/projects", "projects", updated_since=since) == {project["id"]}
    assert _ids(api, f"{base}/time_entries", "time_entries", updated_since=since) == {entry["id"]}
    assert _ids(api, f"{base}/user_assignments", "user_assignments", updated_since=since) == {ua["id"]}
    assert _ids(api, f"{base}/task_assignments", "task_assignments", updated_since=since) == {ta["id"]}
    # Roles have no updated_since: the parameter is ignored.
    assert len(_ids(api, f"{base}/roles", "roles", updated_since=since)) == len(store.list("roles"))


def test_from_to_are_inclusive_on_spent_date(sim: SimulatorServer, api: requests.Session) -> None:
    truth = sim.store(1000001).list("time_entries")
    per_day = Counter(e["spent_date"] for e in truth)
    day = "2024-06-20"
    assert per_day[day] > 0
    url = f"{sim.base_url}/time_entries"
    body = api.get(url, params={"from": day, "to": day}).json()
    assert {e["spent_date"] for e in body["time_entries"]} == {day}
    assert body["total_entries"] == per_day[day]
    week = api.get(url, params={"from": "2024-06-17", "to": "2024-06-21"}).json()
    expected = sum(n for d, n in per_day.items() if "2024-06-17" <= d <= "2024-06-21")
    assert week["total_entries"] == expected


def test_is_active_filters(sim: SimulatorServer, api: requests.Session) -> None:
    store = sim.store(1000001)
    for route in ("clients", "projects", "users"):
        truth = store.list(route)
        active = {r["id"] for r in truth if r["is_active"]}
        archived = {r["id"] for r in truth if not r["is_active"]}
        assert active and archived, f"generated {route} should include archived records"
        assert _ids(api, f"{sim.base_url}/{route}", route, is_active="true") == active
        assert _ids(api, f"{sim.base_url}/{route}", route, is_active="false") == archived


def test_time_entry_id_filters(sim: SimulatorServer, api: requests.Session) -> None:
    truth = sim.store(1000001).list("time_entries")
    sample = truth[len(truth) // 2]
    url = f"{sim.base_url}/time_entries"
    for param, pick in (
        ("user_id", lambda e: e["user"]["id"]),
        ("project_id", lambda e: e["project"]["id"]),
        ("client_id", lambda e: e["client"]["id"]),
        ("task_id", lambda e: e["task"]["id"]),
    ):
        wanted = pick(sample)
        expected = {e["id"] for e in truth if pick(e) == wanted}
        assert _ids(api, url, "time_entries", **{param: wanted}) == expected, param
    running = {e["id"] for e in truth if e["is_running"]}
    assert running and _ids(api, url, "time_entries", is_running="true") == running
    both = _ids(api, url, "time_entries", user_id=sample["user"]["id"], project_id=sample["project"]["id"])
    assert both == {
        e["id"]
        for e in truth
        if e["user"]["id"] == sample["user"]["id"] and e["project"]["id"] == sample["project"]["id"]
    }


def test_assignment_and_project_filters(sim: SimulatorServer, api: requests.Session) -> None:
    store = sim.store(1000001)
    assignment = store.list("user_assignments")[0]
    user_id = assignment["user"]["id"]
    expected = {a["id"] for a in store.list("user_assignments") if a["user"]["id"] == user_id}
    assert _ids(api, f"{sim.base_url}/user_assignments", "user_assignments", user_id=user_id) == expected
    client_id = store.list("projects")[0]["client"]["id"]
    expected = {p["id"] for p in store.list("projects") if p["client"]["id"] == client_id}
    assert _ids(api, f"{sim.base_url}/projects", "projects", client_id=client_id) == expected


def test_malformed_filters_are_422_and_unknown_ones_ignored(
    sim: SimulatorServer, api: requests.Session
) -> None:
    url = f"{sim.base_url}/time_entries"
    for params in ({"updated_since": "yesterday"}, {"from": "2024-13-01"}, {"user_id": "x"}):
        assert api.get(url, params=params).status_code == 422, params
    assert api.get(f"{sim.base_url}/clients", params={"is_active": "maybe"}).status_code == 422
    plain = api.get(url, params={"per_page": 5}).json()
    assert (
        api.get(url, params={"per_page": 5, "colour": "blue"}).json()["total_entries"]
        == plain["total_entries"]
    )
