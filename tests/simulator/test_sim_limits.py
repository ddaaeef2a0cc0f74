"""Rate limiting, fault injection and request statistics."""

from __future__ import annotations

import time

import pytest
import requests

from simulator.server import SimulatorServer


def test_rate_limit_answers_429_with_retry_after_and_html(
    sim: SimulatorServer, api: requests.Session
) -> None:
    sim.configure(rate_limit_enabled=True, rate_limit_requests=5, rate_limit_window_s=2.0)
    url = f"{sim.base_url}/users/me"
    assert [api.get(url).status_code for _ in range(5)] == [200] * 5
    refused = api.get(url)
    assert refused.status_code == 429
    assert refused.headers["Content-Type"].startswith("text/html")
    assert "<html>" in refused.text
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    # Once the window has moved on, requests are served again.
    deadline = time.monotonic() + 5
    status = refused.status_code
    while status == 429 and time.monotonic() < deadline:
        time.sleep(0.1)
        status = api.get(url).status_code
    assert status == 200


def test_rate_limit_is_per_token_and_switchable(
    sim: SimulatorServer, api: requests.Session, session_for
) -> None:
    sim.add_account(account_id=2000002, token="other", seed=3, people=2, projects=1, clients=1, days=2)
    sim.configure(rate_limit_enabled=True, rate_limit_requests=2, rate_limit_window_s=60.0)
    url = f"{sim.base_url}/users/me"
    assert [api.get(url).status_code for _ in range(3)] == [200, 200, 429]
    assert session_for("other", 2000002).get(url).status_code == 200
    sim.configure(rate_limit_enabled=False)
    assert all(api.get(url).status_code == 200 for _ in range(5))


def test_429s_do_not_count_toward_the_window(sim: SimulatorServer, api: requests.Session) -> None:
    sim.configure(rate_limit_enabled=True, rate_limit_requests=3, rate_limit_window_s=60.0)
    url = f"{sim.base_url}/users/me"
    statuses = [api.get(url).status_code for _ in range(10)]
    assert statuses == [200] * 3 + [429] * 7
    stats = sim.stats()
    assert stats["rate_limited"] == 7 and stats["by_status"] == {"200": 3, "429": 7}


@pytest.mark.parametrize("seed", [1, 2])
def test_error_rate_one_gives_5xx(sim: SimulatorServer, api: requests.Session, seed: int) -> None:
    sim.configure(error_rate=1.0, fault_seed=seed)
    statuses = {api.get(f"{sim.base_url}/clients").status_code for _ in range(20)}
    assert statuses <= {500, 502, 503} and len(statuses) > 1
    # The control API is never faulted.
    assert requests.get(f"{sim.control_url}/stats").status_code == 200
    assert sim.stats()["faults_injected"] == 20


def test_rate_limit_fault_has_retry_after_one(sim: SimulatorServer, api: requests.Session) -> None:
    sim.configure(rate_limit_fault_rate=1.0)
    response = api.get(f"{sim.base_url}/clients")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_slow_and_timeout_faults_delay_answers(sim: SimulatorServer, api: requests.Session) -> None:
    sim.configure(slow_rate=1.0, slow_seconds=0.3)
    started = time.monotonic()
    assert api.get(f"{sim.base_url}/users/me").status_code == 200
    assert time.monotonic() - started >= 0.3
    sim.configure(slow_rate=0.0, timeout_rate=1.0, slow_seconds=30.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get(f"{sim.base_url}/users/me", timeout=0.3)
    # stop() (from the fixture) must not wait for the sleeping handler.


def test_stats_count_by_status_and_path_template(
    sim: SimulatorServer, api: requests.Session, session_for
) -> None:
    requests.post(f"{sim.control_url}/stats/reset").raise_for_status()
    entry_id = sim.store(1000001).list("time_entries")[0]["id"]
    api.get(f"{sim.base_url}/time_entries/{entry_id}")
    api.get(f"{sim.base_url}/time_entries/1")
    api.get(f"{sim.base_url}/clients")
    session_for("bad").get(f"{sim.base_url}/clients")
    stats = requests.get(f"{sim.control_url}/stats").json()
    assert stats["requests"] == 4
    assert stats["by_status"] == {"200": 2, "404": 1, "401": 1}
    assert stats["by_path"] == {"/v2/time_entries/{id}": 2, "/v2/clients": 2}
    assert stats["by_account"] == {"1000001": 3}
    assert stats["rate_limited"] == 0
    requests.post(f"{sim.control_url}/stats/reset").raise_for_status()
    assert sim.stats()["requests"] == 0


def test_config_over_http(sim: SimulatorServer, api: requests.Session) -> None:
    response = requests.post(f"{sim.control_url}/config", json={"error_rate": 1.0})
    assert response.status_code == 200 and response.json()["error_rate"] == 1.0
    assert api.get(f"{sim.base_url}/clients").status_code >= 500
    assert requests.post(f"{sim.control_url}/config", json={"bogus": 1}).status_code == 422
    assert requests.post(f"{sim.control_url}/config", json={"error_rate": 2}).status_code == 422
    requests.post(f"{sim.control_url}/config", json={"error_rate": 0}).raise_for_status()
    assert api.get(f"{sim.base_url}/clients").status_code == 200


def _throttled(sim: SimulatorServer, api: requests.Session) -> requests.Response:
    """A 429 from a 2-per-60 s window, whose real wait is about a minute."""
    sim.configure(rate_limit_enabled=True, rate_limit_requests=2, rate_limit_window_s=60.0)
    url = f"{sim.base_url}/users/me"
    assert [api.get(url).status_code for _ in range(2)] == [200, 200]
    refused = api.get(url)
    assert refused.status_code == 429
    return refused


def test_retry_after_is_the_real_wait_by_default(sim: SimulatorServer, api: requests.Session) -> None:
    sim.configure(retry_after_s=5)
    sim.configure(retry_after_s=None)  # back to the truth
    assert 59 <= int(_throttled(sim, api).headers["Retry-After"]) <= 60


@pytest.mark.parametrize("stated", [1, 0])
def test_retry_after_can_lie(sim: SimulatorServer, api: requests.Session, stated: int) -> None:
    sim.configure(retry_after_s=stated)
    assert _throttled(sim, api).headers["Retry-After"] == str(stated)
    # Injected 429s say the same.
    sim.configure(rate_limit_enabled=False, rate_limit_fault_rate=1.0)
    assert api.get(f"{sim.base_url}/clients").headers["Retry-After"] == str(stated)


def test_retry_after_minus_one_sends_no_header(sim: SimulatorServer, api: requests.Session) -> None:
    response = requests.post(f"{sim.control_url}/config", json={"retry_after_s": -1}, timeout=5)
    assert response.status_code == 200 and response.json()["retry_after_s"] == -1
    assert "Retry-After" not in _throttled(sim, api).headers
    sim.configure(rate_limit_enabled=False, rate_limit_fault_rate=1.0)
    injected = api.get(f"{sim.base_url}/clients")
    assert injected.status_code == 429 and "Retry-After" not in injected.headers


@pytest.mark.parametrize("bad", [-2, 1.5, "1", True])
def test_bad_retry_after_is_rejected(sim: SimulatorServer, bad: object) -> None:
    with pytest.raises(ValueError, match="retry_after_s must be null"):
        sim.configure(retry_after_s=bad)
    response = requests.post(f"{sim.control_url}/config", json={"retry_after_s": bad}, timeout=5)
    assert response.status_code == 422 and "retry_after_s" in response.json()["message"]
    assert sim.configure()["retry_after_s"] is None
