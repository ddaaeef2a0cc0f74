"""Outages: /v2 answers 503 or resets connections for a while, then serves again."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from simulator.server import SimulatorServer

DEADLINE_S = 5.0


def _outage(sim: SimulatorServer, method: str, body: object = None) -> requests.Response:
    return requests.request(method, f"{sim.control_url}/outage", json=body, timeout=5)


def _status_or_error(session: requests.Session, url: str) -> int | None:
    """The status of a GET, or None when the connection failed."""
    try:
        return session.get(url, timeout=5).status_code
    except requests.exceptions.ConnectionError:
        return None


def _poll(probe: Callable[[], int | None], wanted: int) -> int | None:
    """Probe until it gives `wanted` or the deadline passes; returns the last result."""
    deadline = time.monotonic() + DEADLINE_S
    result = probe()
    while result != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
        result = probe()
    return result


def _assert_reset(session: requests.Session, url: str) -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        session.get(url, timeout=5)
    # ConnectTimeout is a ConnectionError too; a reset must not be a slow non-answer.
    assert not isinstance(caught.value, requests.exceptions.Timeout)


def test_no_outage_by_default(sim: SimulatorServer) -> None:
    assert _outage(sim, "GET").json() == {"active": False, "mode": None, "remaining_s": 0.0}


def test_503_outage_answers_html_then_ends_by_itself(sim: SimulatorServer, api: requests.Session) -> None:
    url = f"{sim.base_url}/users/me"
    assert api.get(url).status_code == 200
    started = time.monotonic()
    assert _outage(sim, "POST", {"seconds": 1.0, "mode": "503"}).json()["active"] is True
    down = api.get(url)
    assert down.status_code == 503
    assert down.headers["Content-Type"].startswith("text/html") and "<html>" in down.text
    assert "Retry-After" not in down.headers
    status = _outage(sim, "GET").json()
    assert status["active"] is True and status["mode"] == "503" and 0 < status["remaining_s"] <= 1.0
    # Unknown routes are down too: the proxy answers before Harvest could say 404.
    assert api.get(f"{sim.base_url}/nowhere").status_code == 503

    assert _poll(lambda: api.get(url).status_code, 200) == 200
    assert time.monotonic() - started >= 1.0  # it lasted its time, not less
    assert _outage(sim, "GET").json() == {"active": False, "mode": None, "remaining_s": 0.0}


def test_503_outage_is_counted_in_stats(sim: SimulatorServer, api: requests.Session) -> None:
    sim.outage(60)
    for _ in range(3):
        api.get(f"{sim.base_url}/clients")
    stats = requests.get(f"{sim.control_url}/stats", timeout=5).json()
    assert stats["by_status"] == {"503": 3} and stats["by_path"] == {"/v2/clients": 3}
    assert stats["outage_503s"] == 3 and stats["faults_injected"] == 0


def test_refuse_outage_resets_connections_then_ends_by_itself(
    sim: SimulatorServer, api: requests.Session, session_for
) -> None:
    url = f"{sim.base_url}/users/me"
    idle = session_for()
    assert api.get(url).status_code == 200 and idle.get(url).status_code == 200  # keep-alive open
    started = time.monotonic()
    assert _outage(sim, "POST", {"seconds": 1.0, "mode": "refuse"}).status_code == 200
    _assert_reset(api, url)  # the connection opened before the outage
    _assert_reset(requests.Session(), url)  # a new one
    # The control API stays up while /v2 refuses.
    status = _outage(sim, "GET").json()
    assert status["active"] is True and status["mode"] == "refuse"
    assert requests.get(f"{sim.control_url}/stats", timeout=5).json()["outage_resets"] >= 2

    assert _poll(lambda: _status_or_error(api, url), 200) == 200
    assert time.monotonic() - started >= 1.0
    # A keep-alive connection left idle during the outage still works afterwards.
    assert idle.get(url).status_code == 200
    stats = sim.stats()
    assert stats["by_status"] == {"200": 4} and stats["outage_503s"] == 0


@pytest.mark.parametrize("mode", ["503", "refuse"])
def test_delete_ends_the_outage_early(sim: SimulatorServer, api: requests.Session, mode: str) -> None:
    url = f"{sim.base_url}/users/me"
    assert api.get(url).status_code == 200
    _outage(sim, "POST", {"seconds": 60, "mode": mode}).raise_for_status()
    assert _status_or_error(api, url) == (503 if mode == "503" else None)
    ended = _outage(sim, "DELETE")
    assert ended.status_code == 200
    assert ended.json() == {"active": False, "mode": None, "remaining_s": 0.0}
    assert api.get(url).status_code == 200


@pytest.mark.parametrize("mode", ["503", "refuse"])
def test_outage_requests_do_not_use_up_the_rate_limit(
    sim: SimulatorServer, api: requests.Session, mode: str
) -> None:
    sim.configure(rate_limit_enabled=True, rate_limit_requests=3, rate_limit_window_s=60.0)
    url = f"{sim.base_url}/users/me"
    assert api.get(url).status_code == 200
    sim.outage(60, mode)
    assert {_status_or_error(api, url) for _ in range(5)} == {503 if mode == "503" else None}
    sim.end_outage()
    assert [api.get(url).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"seconds": 1, "mode": "down"}, "mode must be one of '503', 'refuse'"),
        ({"seconds": 1, "mode": 503}, "mode must be one of"),
        ({"seconds": 0}, "seconds must be a positive"),
        ({"seconds": -1, "mode": "refuse"}, "seconds must be a positive"),
        ({"seconds": "1"}, "seconds must be a number"),
        ({"seconds": True}, "seconds must be a number"),
        ({"mode": "503"}, "seconds is required"),
        ({"seconds": 1, "minutes": 1}, "unknown key(s): minutes"),
        ([1], "body must be a JSON object"),
    ],
)
def test_bad_outage_requests_are_400(
    sim: SimulatorServer, api: requests.Session, body: object, message: str
) -> None:
    response = _outage(sim, "POST", body)
    assert response.status_code == 400 and message in response.json()["message"]
    assert _outage(sim, "GET").json()["active"] is False
    assert api.get(f"{sim.base_url}/users/me").status_code == 200


def test_outage_in_process_validates_and_reports(sim: SimulatorServer) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        sim.outage(1, "offline")
    with pytest.raises(ValueError, match="positive, finite"):
        sim.outage(float("inf"))
    status = sim.outage(30, "refuse")
    assert status["active"] is True and status["mode"] == "refuse" and 29 < status["remaining_s"] <= 30
    sim.end_outage()
    assert _outage(sim, "GET").json()["active"] is False
