"""Envelope shape, required headers, authentication and error bodies of the /v2 routes."""

from __future__ import annotations

import http.client

import requests

from simulator.server import SimulatorServer

ENVELOPE_KEYS = [
    "per_page",
    "total_pages",
    "total_entries",
    "next_page",
    "previous_page",
    "page",
    "links",
]
INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "The access token provided is expired, revoked, malformed or invalid "
    "for other reasons.",
}


def test_list_envelope_has_harvest_fields_in_order(sim: SimulatorServer, api: requests.Session) -> None:
    response = api.get(f"{sim.base_url}/clients")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["clients", *ENVELOPE_KEYS]
    assert body["per_page"] == 2000  # default and maximum
    assert body["total_entries"] == len(body["clients"]) == 5
    assert (body["total_pages"], body["page"], body["next_page"], body["previous_page"]) == (1, 1, None, None)
    host = sim.base_url
    assert body["links"] == {
        "first": f"{host}/clients?page=1&per_page=2000&ref=first",
        "next": None,
        "previous": None,
        "last": f"{host}/clients?page=1&per_page=2000&ref=last",
    }


def test_links_are_built_from_the_host_header(sim: SimulatorServer, api: requests.Session) -> None:
    body = api.get(
        f"{sim.base_url}/users", params={"per_page": 5}, headers={"Host": "harvest.test:8443"}
    ).json()
    assert body["links"]["next"].startswith("http://harvest.test:8443/v2/users?cursor=")


def test_every_list_route_answers_with_its_collection_key(
    sim: SimulatorServer, api: requests.Session
) -> None:
    routes = [
        "clients",
        "projects",
        "users",
        "roles",
        "tasks",
        "user_assignments",
        "task_assignments",
        "time_entries",
    ]
    for route in routes:
        body = api.get(f"{sim.base_url}/{route}").json()
        assert next(iter(body)) == route
        assert body["total_entries"] == len(body[route]) > 0


def test_object_fields_match_the_reference(sim: SimulatorServer, api: requests.Session) -> None:
    entry = api.get(f"{sim.base_url}/time_entries", params={"per_page": 1}).json()["time_entries"][0]
    assert set(entry) == {
        "id", "spent_date", "user", "user_assignment", "client", "project", "task", "task_assignment",
        "external_reference", "invoice", "hours", "hours_without_timer", "rounded_hours", "notes",
        "is_locked", "locked_reason", "is_closed", "approval_status", "is_billed", "timer_started_at",
        "started_time", "ended_time", "is_running", "billable", "budgeted", "billable_rate", "cost_rate",
        "created_at", "updated_at",
    }  # fmt: skip
    assert set(entry["client"]) == {"id", "name", "currency"}
    assert set(entry["project"]) == {"id", "name", "code"}
    assert set(entry["user"]) == {"id", "name"}
    project = api.get(f"{sim.base_url}/projects").json()["projects"][0]
    for field in (
        "client",
        "code",
        "is_billable",
        "is_fixed_fee",
        "bill_by",
        "budget",
        "budget_by",
        "cost_budget",
        "cost_budget_include_expenses",
        "fee",
        "starts_on",
        "ends_on",
        "notes",
    ):
        assert field in project
    user = api.get(f"{sim.base_url}/users").json()["users"][0]
    for field in (
        "first_name",
        "last_name",
        "email",
        "timezone",
        "is_active",
        "weekly_capacity",
        "default_hourly_rate",
        "cost_rate",
        "roles",
        "access_roles",
    ):
        assert field in user
    assignment = api.get(f"{sim.base_url}/user_assignments").json()["user_assignments"][0]
    assert set(assignment["project"]) == {"id", "name", "code"}
    assert set(assignment["user"]) == {"id", "name"}


def test_per_page_out_of_range_is_422(sim: SimulatorServer, api: requests.Session) -> None:
    for value in ("2001", "0", "abc"):
        for route in ("clients", "time_entries"):
            response = api.get(f"{sim.base_url}/{route}", params={"per_page": value})
            assert response.status_code == 422
            assert "message" in response.json()


def test_missing_user_agent_is_400(sim: SimulatorServer) -> None:
    # http.client sends no User-Agent of its own (requests and urllib3 would add one).
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    headers = {"Authorization": "Bearer test-token", "Harvest-Account-Id": "1000001"}
    try:
        connection.request("GET", "/v2/clients", headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 400
        # Same connection (keep-alive) with the header: accepted.
        connection.request("GET", "/v2/clients", headers={**headers, "User-Agent": "t (t@e.com)"})
        response = connection.getresponse()
        assert response.status == 200 and response.read()
    finally:
        connection.close()


def test_bad_token_is_401_invalid_token(sim: SimulatorServer, session_for) -> None:
    response = session_for(token="wrong").get(f"{sim.base_url}/users/me")
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_account_id_mismatch_or_missing_is_401(sim: SimulatorServer, session_for) -> None:
    sim.add_account(account_id=2000002, token="other-token", seed=2, people=2, projects=1, clients=1, days=1)
    assert session_for(account_id=2000002).get(f"{sim.base_url}/users/me").status_code == 401
    assert session_for(account_id="nope").get(f"{sim.base_url}/users/me").status_code == 401
    session = session_for()
    session.headers.pop("Harvest-Account-Id")
    assert session.get(f"{sim.base_url}/users/me").json() == INVALID_TOKEN
    assert session_for("other-token", 2000002).get(f"{sim.base_url}/users/me").status_code == 200


def test_query_string_authentication(sim: SimulatorServer) -> None:
    params = {"access_token": "test-token", "account_id": "1000001"}
    response = requests.get(f"{sim.base_url}/company", params=params, headers={"User-Agent": "t (t@e.com)"})
    assert response.status_code == 200
    assert response.json()["base_uri"].startswith("https://")


def test_revoked_token_gets_401_until_a_new_token_is_set(sim: SimulatorServer, session_for) -> None:
    assert session_for().get(f"{sim.base_url}/users/me").status_code == 200
    requests.post(f"{sim.control_url}/accounts/1000001/revoke").raise_for_status()
    assert session_for().get(f"{sim.base_url}/users/me").status_code == 401
    requests.post(f"{sim.control_url}/accounts/1000001/token", json={"token": "fresh"}).raise_for_status()
    assert session_for("fresh").get(f"{sim.base_url}/users/me").status_code == 200


def test_forbidden_paths_answer_403(sim: SimulatorServer, api: requests.Session) -> None:
    requests.post(
        f"{sim.control_url}/accounts/1000001/forbid", json={"paths": ["/v2/roles"]}
    ).raise_for_status()
    assert api.get(f"{sim.base_url}/roles").status_code == 403
    assert api.get(f"{sim.base_url}/users").status_code == 200
    requests.post(f"{sim.control_url}/accounts/1000001/forbid", json={"paths": []}).raise_for_status()
    assert api.get(f"{sim.base_url}/roles").status_code == 200


def test_unknown_route_is_html_404_and_unknown_entry_is_json_404(
    sim: SimulatorServer, api: requests.Session
) -> None:
    response = api.get(f"{sim.base_url}/nothing_here")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    for path in ("time_entries/123", "time_entries/abc", "projects/5/user_assignments"):
        response = api.get(f"{sim.base_url}/{path}")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found"}


def test_single_time_entry_and_me_and_company(sim: SimulatorServer, api: requests.Session) -> None:
    first = api.get(f"{sim.base_url}/time_entries", params={"per_page": 1}).json()["time_entries"][0]
    assert api.get(f"{sim.base_url}/time_entries/{first['id']}").json() == first
    me = api.get(f"{sim.base_url}/users/me").json()
    assert "administrator" in me["access_roles"]
    assert api.get(f"{sim.base_url}/users/{me['id']}").json() == me
    company = api.get(f"{sim.base_url}/company").json()
    assert company["clock"] in ("12h", "24h") and "weekly_capacity" in company


def test_project_user_assignments_are_scoped_and_page_based(
    sim: SimulatorServer, api: requests.Session, follow
) -> None:
    everything = api.get(f"{sim.base_url}/user_assignments").json()["user_assignments"]
    project_id = everything[0]["project"]["id"]
    expected = {a["id"] for a in everything if a["project"]["id"] == project_id}
    envelopes = follow(api, f"{sim.base_url}/projects/{project_id}/user_assignments", per_page=1)
    seen = [a["id"] for env in envelopes for a in env["user_assignments"]]
    assert sorted(seen) == sorted(expected)
    if len(envelopes) > 1:
        assert "page=2" in envelopes[0]["links"]["next"] and "ref=next" in envelopes[0]["links"]["next"]
        assert envelopes[1]["page"] == 2


def test_v2_is_read_only(sim: SimulatorServer, api: requests.Session) -> None:
    assert api.post(f"{sim.base_url}/clients", json={"name": "x"}).status_code == 405
