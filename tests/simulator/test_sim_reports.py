"""Harvest's time reports, consistent with the entries the simulator lists."""

from __future__ import annotations

from collections import defaultdict

from tests.simulator.conftest import ACCOUNT_ID, END_DATE

RANGE = {"from": "20240601", "to": END_DATE.replace("-", "")}


def _in_range(sim) -> list[dict]:
    return [
        e for e in sim.store(ACCOUNT_ID).list("time_entries") if "2024-06-01" <= e["spent_date"] <= END_DATE
    ]


def test_the_projects_report_sums_the_entries_hours(sim, api, follow):
    pages = follow(api, f"{sim.base_url}/reports/time/projects", **RANGE)
    rows = {r["project_id"]: r for env in pages for r in env["results"]}
    total, billable = defaultdict(float), defaultdict(float)
    for e in _in_range(sim):
        total[e["project"]["id"]] += e["hours"]
        if e["billable"]:
            billable[e["project"]["id"]] += e["hours"]
    assert rows and set(rows) == set(total)
    for project_id, row in rows.items():
        assert row["total_hours"] == round(total[project_id], 2)
        assert row["billable_hours"] == round(billable[project_id], 2)
        assert {"project_name", "client_id", "client_name", "currency", "billable_amount"} <= set(row)


def test_the_team_report_has_a_row_per_user_and_currency(sim, api, follow):
    store = sim.store(ACCOUNT_ID)
    # A second currency: one of the clients bills in another one.
    client = store.list("clients")[0]
    other = "GBP" if client["currency"] != "GBP" else "EUR"
    store.update("clients", client["id"], {"currency": other})
    rows = [r for env in follow(api, f"{sim.base_url}/reports/time/team", **RANGE) for r in env["results"]]
    per_user = defaultdict(float)
    for row in rows:
        per_user[row["user_id"]] += row["total_hours"]
    expected = defaultdict(float)
    for e in _in_range(sim):
        expected[e["user"]["id"]] += e["hours"]
    assert {k: round(v, 2) for k, v in per_user.items()} == {k: round(v, 2) for k, v in expected.items()}
    assert len(rows) > len(per_user)  # someone worked for clients of both currencies
    assert len({(r["user_id"], r["currency"]) for r in rows}) == len(rows)


def test_reports_need_a_range_of_at_most_a_year(sim, api):
    url = f"{sim.base_url}/reports/time/projects"
    assert api.get(url).status_code == 422
    assert api.get(url, params={"from": "20240101"}).status_code == 422
    assert api.get(url, params={"from": "20230101", "to": "20231231"}).status_code == 200
    too_long = api.get(url, params={"from": "20230101", "to": "20240101"})
    assert too_long.status_code == 422 and "365 days" in too_long.json()["message"]
    assert api.get(url, params={"from": "2024-13-01", "to": "20240101"}).status_code == 422


def test_reports_have_their_own_tighter_limit(sim, api):
    sim.configure(rate_limit_enabled=True, reports_rate_limit_requests=2, rate_limit_requests=100)
    url = f"{sim.base_url}/reports/time/team"
    answers = [api.get(url, params=RANGE).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert api.get(f"{sim.base_url}/time_entries", params={"per_page": 1}).status_code == 200
