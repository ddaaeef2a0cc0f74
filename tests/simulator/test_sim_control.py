"""Control API (/_sim) and the in-process store API: ground truth edits and their effects."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from simulator.schema import StoreError
from simulator.server import SimulatorServer
from simulator.timeutil import parse_instant

ACCOUNT = "/accounts/1000001"


def _ctl(sim: SimulatorServer, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(method, f"{sim.control_url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]


def test_accounts_are_created_and_listed(sim: SimulatorServer, session_for) -> None:
    body = {"account_id": 42, "token": "t42", "seed": 9, "people": 3, "projects": 2, "clients": 1, "days": 5,
            "entries_per_day": 1, "end_date": "2024-01-31"}  # fmt: skip
    created = _ctl(sim, "POST", "/accounts", json=body)
    assert created.status_code == 201 and created.json()["counts"]["users"] == 3
    assert _ctl(sim, "GET", "/accounts").json() == [42, 1000001]
    assert _ctl(sim, "POST", "/accounts", json=body).status_code == 409
    empty = {"account_id": 43, "token": "t43", "people": 0, "projects": 0, "clients": 0, "days": 0}
    assert _ctl(sim, "POST", "/accounts", json=empty).status_code == 201
    listed = session_for("t43", 43).get(f"{sim.base_url}/time_entries").json()
    assert listed["time_entries"] == [] and listed["total_entries"] == 0
    assert session_for("t43", 43).get(f"{sim.base_url}/users/me").status_code == 200


def test_create_time_entry_from_flat_ids(sim: SimulatorServer) -> None:
    store = sim.store(1000001)
    assignment = store.list("user_assignments")[0]
    project = next(p for p in store.list("projects") if p["id"] == assignment["project"]["id"])
    task_assignment = next(t for t in store.list("task_assignments") if t["project"]["id"] == project["id"])
    fields = {
        "user_id": assignment["user"]["id"],
        "project_id": project["id"],
        "task_id": task_assignment["task"]["id"],
        "spent_date": "2024-06-27",
        "hours": 1.5,
        "notes": "created in a test",
    }
    response = _ctl(sim, "POST", f"{ACCOUNT}/time_entries", json=fields)
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["id"] > max(e["id"] for e in store.list("time_entries") if e["id"] != entry["id"]) > 2**31
    assert entry["user"] == assignment["user"]
    assert entry["project"] == {"id": project["id"], "name": project["name"], "code": project["code"]}
    assert entry["client"] == project["client"]
    assert entry["task"] == task_assignment["task"]
    assert entry["user_assignment"]["id"] == assignment["id"]
    assert entry["task_assignment"]["id"] == task_assignment["id"]
    assert entry["created_at"] == entry["updated_at"] and entry["hours"] == 1.5
    assert store.get("time_entries", entry["id"]) == entry


def test_patch_bumps_updated_at_and_shows_in_updated_since(
    sim: SimulatorServer, api: requests.Session
) -> None:
    store = sim.store(1000001)
    entry = store.list("time_entries")[-1]
    _ctl(sim, "POST", "/clock", json={"offset_seconds": 3600}).raise_for_status()
    response = _ctl(sim, "PATCH", f"{ACCOUNT}/time_entries/{entry['id']}", json={"hours": 2.25})
    assert response.status_code == 200
    patched = response.json()
    assert patched["hours"] == 2.25 and patched["created_at"] == entry["created_at"]
    assert parse_instant(patched["updated_at"]) > parse_instant(entry["updated_at"])
    since = api.get(f"{sim.base_url}/time_entries", params={"updated_since": entry["updated_at"]}).json()
    assert patched["id"] in {e["id"] for e in since["time_entries"]}


def test_rename_shows_in_nested_objects(sim: SimulatorServer) -> None:
    store = sim.store(1000001)
    entry = store.list("time_entries")[0]
    store.update("projects", entry["project"]["id"], {"name": "Brand New Name", "code": "BNN"})
    renamed = store.get("time_entries", entry["id"])
    assert renamed["project"]["name"] == "Brand New Name" and renamed["project"]["code"] == "BNN"
    assert renamed["updated_at"] == entry["updated_at"]  # Harvest does not document a bump here


def test_delete_project_cascades(sim: SimulatorServer, api: requests.Session) -> None:
    store = sim.store(1000001)
    project_id = store.list("time_entries")[0]["project"]["id"]
    assert _ctl(sim, "DELETE", f"{ACCOUNT}/projects/{project_id}").status_code == 204
    assert all(e["project"]["id"] != project_id for e in store.list("time_entries"))
    assert all(a["project"]["id"] != project_id for a in store.list("user_assignments"))
    assert all(a["project"]["id"] != project_id for a in store.list("task_assignments"))
    listed = api.get(f"{sim.base_url}/time_entries", params={"project_id": project_id}).json()
    assert listed["total_entries"] == 0
    assert api.get(f"{sim.base_url}/projects/{project_id}").status_code == 404


def test_delete_refusals_follow_harvest_rules(sim: SimulatorServer) -> None:
    store = sim.store(1000001)
    client_id = store.list("projects")[0]["client"]["id"]
    refused = _ctl(sim, "DELETE", f"{ACCOUNT}/clients/{client_id}")
    assert refused.status_code == 422 and "not removable" in refused.json()["message"]
    busy_user = store.list("time_entries")[0]["user"]["id"]
    assert _ctl(sim, "DELETE", f"{ACCOUNT}/users/{busy_user}").status_code == 422
    assert _ctl(sim, "DELETE", f"{ACCOUNT}/clients/999").status_code == 404


def test_role_membership_stays_consistent(sim: SimulatorServer) -> None:
    store = sim.store(1000001)
    user = store.list("users")[0]
    updated = store.update("users", user["id"], {"roles": ["Designer", "Brand New Role"]})
    assert updated["roles"] == ["Designer", "Brand New Role"]
    roles = {r["name"]: r for r in store.list("roles")}
    assert user["id"] in roles["Brand New Role"]["user_ids"] and user["id"] in roles["Designer"]["user_ids"]
    assert all(
        user["id"] not in r["user_ids"] for n, r in roles.items() if n not in ("Designer", "Brand New Role")
    )
    store.delete("roles", roles["Designer"]["id"])
    assert store.get("users", user["id"])["roles"] == ["Brand New Role"]
    role = store.create("roles", {"name": "Reviewer", "user_ids": [user["id"]]})
    assert "Reviewer" in store.get("users", user["id"])["roles"]
    store.update("roles", role["id"], {"user_ids": []})
    assert "Reviewer" not in store.get("users", user["id"])["roles"]


def test_list_ground_truth_as_json_and_ndjson(sim: SimulatorServer) -> None:
    listed = _ctl(sim, "GET", f"{ACCOUNT}/time_entries").json()
    assert listed == sim.store(1000001).list("time_entries")
    streamed = _ctl(sim, "GET", f"{ACCOUNT}/time_entries", params={"format": "ndjson"})
    assert streamed.headers["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line) for line in streamed.text.splitlines()] == listed


def test_control_errors(sim: SimulatorServer) -> None:
    assert _ctl(sim, "GET", "/accounts/5/clients").status_code == 404
    assert _ctl(sim, "GET", f"{ACCOUNT}/widgets").status_code == 404
    assert _ctl(sim, "POST", f"{ACCOUNT}/clients", json={"nmae": "typo"}).status_code == 422
    assert _ctl(sim, "POST", f"{ACCOUNT}/clients", data=b"not json").status_code == 400
    assert _ctl(sim, "POST", f"{ACCOUNT}/time_entries", json={"hours": 1}).status_code == 422
    assert _ctl(sim, "PATCH", f"{ACCOUNT}/clients/1", json={"name": "x"}).status_code == 404
    assert _ctl(sim, "PUT", f"{ACCOUNT}/clients").status_code == 405


def test_store_python_api(sim: SimulatorServer) -> None:
    store = sim.store(1000001)
    client = store.create("clients", {"name": "Py Client", "currency": "EUR"})
    project = store.create(
        "projects", {"name": "Py Project", "client_id": client["id"], "is_billable": False}
    )
    assert project["client"] == {"id": client["id"], "name": "Py Client", "currency": "EUR"}
    assert store.update("clients", client["id"], {"is_active": False})["is_active"] is False
    with pytest.raises(StoreError) as refused:
        store.delete("clients", client["id"])
    assert refused.value.status == 422
    store.delete("projects", project["id"])
    store.delete("clients", client["id"])
    assert store.get("clients", client["id"]) is None


def test_clock_endpoint(sim: SimulatorServer) -> None:
    before = _ctl(sim, "GET", "/clock").json()
    after = _ctl(sim, "POST", "/clock", json={"advance_seconds": 120}).json()
    assert after["offset_seconds"] == before["offset_seconds"] + 120
    assert after["epoch"] - before["epoch"] >= 120


def test_paging_while_data_changes_never_errors(sim: SimulatorServer, session_for) -> None:
    """Chaos tests edit ground truth while importers page; every answer must stay well formed."""
    store = sim.store(1000001)
    stop = threading.Event()
    failures: list[str] = []

    def page_forever() -> None:
        with session_for() as session:
            while not stop.is_set():
                url: str | None = f"{sim.base_url}/time_entries?per_page=40"
                while url and not stop.is_set():
                    response = session.get(url)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                        return
                    url = response.json()["links"]["next"]

    readers = [threading.Thread(target=page_forever) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        sample = store.list("time_entries")[10]
        for round_number in range(40):
            created = store.create(
                "time_entries",
                {"user_id": sample["user"]["id"], "project_id": sample["project"]["id"], "hours": 1.0},
            )
            store.update("time_entries", created["id"], {"notes": f"round {round_number}"})
            store.update("projects", sample["project"]["id"], {"name": f"Renamed {round_number}"})
            store.delete("time_entries", created["id"])
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    assert failures == []


def test_moving_an_entry_rederives_rates_and_links(sim: SimulatorServer) -> None:
    store = sim.store(1000001)
    entry = next(e for e in store.list("time_entries") if e["billable"] and not e["is_running"])
    internal = next(p for p in store.list("projects") if not p["is_billable"])
    member = next(a for a in store.list("user_assignments") if a["project"]["id"] == internal["id"])
    moved = store.update(
        "time_entries", entry["id"], {"project_id": internal["id"], "user_id": member["user"]["id"]}
    )
    assert moved["billable"] is False and moved["billable_rate"] is None
    assert moved["client"] == internal["client"]
    assert moved["user_assignment"]["id"] == member["id"]
    user = store.get("users", member["user"]["id"])
    assert moved["cost_rate"] == user["cost_rate"]
    back = store.update(
        "time_entries", entry["id"], {"project_id": entry["project"]["id"], "user_id": entry["user"]["id"]}
    )
    assert (back["billable"], back["billable_rate"]) == (entry["billable"], entry["billable_rate"])
    flipped = store.update("time_entries", entry["id"], {"billable": False})
    assert flipped["billable_rate"] is None
