"""The Harvest client against the simulator's real HTTP behaviour."""

from __future__ import annotations

import time

import pytest
from urllib3.util import SKIP_HEADER

from infra.harvest.client import HarvestClient
from infra.harvest.errors import HarvestAuthError, HarvestRequestError, HarvestUnavailable
from simulator.server import SimulatorServer

ACCOUNT = 1_000_001
TOKEN = "client-test-token"
UA = "harvest-sync-tests (ops@example.com)"


@pytest.fixture
def sim():
    with SimulatorServer(port=0) as server:
        server.configure(rate_limit_enabled=False)
        server.add_account(
            account_id=ACCOUNT,
            token=TOKEN,
            seed=3,
            people=30,
            projects=25,
            clients=12,
            days=20,
            entries_per_day=2,
        )
        yield server


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def _client(sim, **kwargs) -> HarvestClient:
    return HarvestClient(sim.base_url, token=TOKEN, harvest_account_id=ACCOUNT, user_agent=UA, **kwargs)


def _collect(client: HarvestClient, path: str, collection: str, **params) -> list[dict]:
    return [record for page in client.pages(path, collection, params) for record in page]


def test_asks_for_2000_per_page_so_small_sets_take_one_request(sim):
    client = _client(sim)
    clients = _collect(client, "/clients", "clients")
    assert len(clients) == len(sim.store(ACCOUNT).list("clients"))
    assert client.requests_made == 1


@pytest.mark.parametrize(
    ("path", "collection", "truth"),
    [
        ("/clients", "clients", "clients"),  # cursor based
        ("/users", "users", "users"),  # cursor based
        ("/projects", "projects", "projects"),  # cursor based
        ("/time_entries", "time_entries", "time_entries"),  # page based
    ],
)
def test_follows_links_next_through_both_pagination_styles(sim, path, collection, truth):
    client = _client(sim)
    records = _collect(client, path, collection, per_page=7)
    ids = [r["id"] for r in records]
    expected = {r["id"] for r in sim.store(ACCOUNT).list(truth)}
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    assert client.requests_made == -(-len(expected) // 7)


def test_pages_are_yielded_one_at_a_time(sim):
    pages = _client(sim).pages("/time_entries", "time_entries", {"per_page": 10})
    first = next(pages)
    assert len(first) == 10
    pages.close()


def test_filters_are_kept_across_pages(sim):
    user_id = sim.store(ACCOUNT).list("time_entries")[0]["user"]["id"]
    records = _collect(_client(sim), "/time_entries", "time_entries", per_page=3, user_id=user_id)
    assert records
    assert {r["user"]["id"] for r in records} == {user_id}
    assert len(records) == sum(
        1 for e in sim.store(ACCOUNT).list("time_entries") if e["user"]["id"] == user_id
    )


def test_waits_retry_after_on_429_and_loses_nothing(sim):
    sim.configure(rate_limit_enabled=True, rate_limit_requests=4, rate_limit_window_s=2.0)
    sleep = SleepRecorder()
    client = _client(sim, sleep=sleep)
    records = _collect(client, "/users", "users", per_page=3)
    assert {r["id"] for r in records} == {u["id"] for u in sim.store(ACCOUNT).list("users")}
    assert sleep.calls, "the client never waited, so it never saw a 429"
    assert all(1 <= s <= 2 for s in sleep.calls)
    assert sim.stats()["rate_limited"] == len(sleep.calls)


def test_retries_5xx_with_backoff_then_succeeds(sim):
    sim.configure(error_rate=0.4)
    sleep = SleepRecorder()
    client = _client(sim, sleep=sleep, backoff_base_s=0.01, backoff_cap_s=0.05, max_attempts=30)
    records = _collect(client, "/time_entries", "time_entries", per_page=20)
    assert {r["id"] for r in records} == {e["id"] for e in sim.store(ACCOUNT).list("time_entries")}
    served_errors = sum(n for status, n in sim.stats()["by_status"].items() if int(status) >= 500)
    assert served_errors > 0
    assert len(sleep.calls) == served_errors


def test_gives_up_on_persistent_5xx_with_a_transient_error(sim):
    sim.configure(error_rate=1.0)
    client = _client(sim, sleep=lambda s: None, max_attempts=3)
    with pytest.raises(HarvestUnavailable, match="3 times"):
        _collect(client, "/clients", "clients")
    assert client.requests_made == 3


def test_timeouts_are_retried(sim):
    sim.configure(timeout_rate=1.0, slow_seconds=1.0)
    client = _client(sim, sleep=lambda s: None, timeout_s=0.2, max_attempts=2)
    with pytest.raises(HarvestUnavailable, match="ReadTimeout"):
        client.get("/company")


def test_bad_token_raises_auth_error_without_retrying(sim):
    client = HarvestClient(
        sim.base_url, token="wrong", harvest_account_id=ACCOUNT, user_agent=UA, sleep=lambda s: None
    )
    with pytest.raises(HarvestAuthError) as info:
        client.get("/users/me")
    assert info.value.status == 401
    assert client.requests_made == 1
    assert "wrong" not in str(info.value)


def test_wrong_account_id_is_an_auth_error(sim):
    client = HarvestClient(sim.base_url, token=TOKEN, harvest_account_id=ACCOUNT + 1, user_agent=UA)
    with pytest.raises(HarvestAuthError):
        client.get("/company")


def test_missing_user_agent_is_a_request_error(sim):
    client = HarvestClient(sim.base_url, token=TOKEN, harvest_account_id=ACCOUNT, user_agent="")
    # urllib3 adds its own User-Agent unless told to skip the header.
    client._session.headers["User-Agent"] = SKIP_HEADER
    with pytest.raises(HarvestRequestError, match="400"):
        client.get("/company")


def test_per_page_above_2000_is_refused(sim):
    with pytest.raises(HarvestRequestError, match="422"):
        _collect(_client(sim), "/clients", "clients", per_page=2001)


def test_a_retry_after_that_proves_too_short_is_backed_off_beyond(sim):
    # Harvest allows 1 request per 3 s but says "Retry-After: 1": waiting just that is refused again
    sim.configure(rate_limit_enabled=True, rate_limit_requests=1, rate_limit_window_s=3.0, retry_after_s=1)
    sleep, heard = SleepRecorder(), []
    client = _client(sim, sleep=sleep, on_wait=lambda reason, s: heard.append(reason))
    client.get("/company")
    client.get("/company")  # the old client gave up after 6 attempts of 1 s
    assert sleep.calls[0] == 1
    assert all(later > 1 for later in sleep.calls[1:]) and len(sleep.calls) >= 2
    assert sum(sleep.calls) >= 2.5
    assert set(heard) == {"rate_limited"}


def test_a_429_without_retry_after_gets_short_growing_waits(sim):
    sim.configure(rate_limit_enabled=True, rate_limit_requests=1, rate_limit_window_s=2.0, retry_after_s=-1)
    sleep = SleepRecorder()
    client = _client(sim, sleep=sleep)
    client.get("/company")
    client.get("/company")
    assert len(sleep.calls) >= 2
    assert sleep.calls[-1] > sleep.calls[0]
    assert max(sleep.calls) < 15  # not a blind 15 s (Harvest's usual window) per refusal


@pytest.mark.parametrize("mode", ["refuse", "503"])
def test_an_outage_is_ridden_out_within_the_patience(sim, mode):
    sim.outage(3.0, mode=mode)
    sleep, heard = SleepRecorder(), []
    client = _client(sim, sleep=sleep, backoff_cap_s=1.0, on_wait=lambda reason, s: heard.append(reason))
    assert client.get("/company")["name"]
    assert sum(sleep.calls) >= 2.5 and max(sleep.calls) <= 1.0
    assert set(heard) == {"unavailable"}
    stats = sim.stats()
    assert stats["outage_resets" if mode == "refuse" else "outage_503s"] > 0


def test_an_outage_longer_than_the_patience_fails_the_request(sim):
    sim.outage(30.0, mode="refuse")
    client = _client(sim, patience_s=1.5, backoff_cap_s=0.5)
    started = time.monotonic()
    with pytest.raises(HarvestUnavailable, match="unreachable"):
        client.get("/company")
    assert time.monotonic() - started < 10
    assert client.patience.exhausted
