"""Patience: the client waits on a throttled or failing Harvest for a budget of seconds, not
for a number of attempts. A scripted transport adapter and a fake sleep stand in for Harvest and
time."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import sqlalchemy as sa

from domain.accounts import AccountRecord
from infra.app import App, build_app
from infra.config import Settings
from infra.crypto import generate_key
from infra.harvest.client import HarvestClient
from infra.harvest.errors import HarvestUnavailable
from infra.harvest.patience import INTERACTIVE_PATIENCE_S, Patience

# A script step: (status, headers), or an exception the transport raises instead of answering.
Step = tuple[int, dict[str, str]] | Exception
OK: Step = (200, {})


class ScriptedAdapter(requests.adapters.BaseAdapter):
    """Harvest's transport, answering from a script; once it runs out, repeats its last step.
    Mounted for "https://" on a real session: the client sends through the mounted adapter."""

    def __init__(self, script: list[Step]) -> None:
        super().__init__()
        self._script = list(script)
        self.calls = 0

    def send(self, request, **_kwargs):  # type: ignore[override]
        self.calls += 1
        step = self._script.pop(0) if len(self._script) > 1 else self._script[0]
        if isinstance(step, Exception):
            raise step
        status, headers = step
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = status, request.url, request
        resp.headers.update({"Content-Type": "application/json", **headers})
        resp._content = b'{"id": 1}'
        return resp

    def close(self) -> None:
        pass


def scripted_session(adapter: ScriptedAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    return session


class FakeTime:
    """A clock that moves only when the client sleeps; every call is logged in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.events: list[str] = []

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.events.append("sleep")
        self.sleeps.append(seconds)
        self.now += seconds


def client(
    script: list[Step] | ScriptedAdapter,
    clock: FakeTime,
    *,
    on_wait: Callable[[str, float], None] | None = None,
    **kwargs,
) -> HarvestClient:
    adapter = script if isinstance(script, ScriptedAdapter) else ScriptedAdapter(script)
    return HarvestClient(
        "https://api.example.test/v2",
        token="tok",
        harvest_account_id=1,
        user_agent="t (t@example.com)",
        session=scripted_session(adapter),
        sleep=clock.sleep,
        on_wait=on_wait,
        **kwargs,
    )


def refused(retry_after: str | None = None) -> Step:
    return (429, {} if retry_after is None else {"Retry-After": retry_after})


# -- Patience on its own ----------------------------------------------------------------------


def test_a_first_retry_after_is_waited_as_given():
    patience = Patience(60, rng=random.Random(1))
    assert patience.after_refusal(7.0) == ("retry_after", 7.0)


def test_a_retry_after_answered_by_another_429_grows_with_jitter():
    patience = Patience(600, backoff_base_s=1.0, backoff_cap_s=64.0, jitter=0.5, rng=random.Random(2))
    waits = [patience.after_refusal(2.0) for _ in range(6)]
    assert waits[0] == ("retry_after", 2.0)
    extras = [w.seconds - 2.0 for w in waits[1:]]
    assert {w.source for w in waits[1:]} == {"backoff"}
    # Never less than what Harvest said; on top, step k lies between half and all of 2**k.
    for k, extra in enumerate(extras):
        assert 2**k / 2 <= extra <= 2**k
    assert extras == sorted(extras) and extras[-1] > 4 * extras[0]


def test_missing_or_zero_retry_after_backs_off_exponentially_capped():
    patience = Patience(600, backoff_base_s=0.5, backoff_cap_s=8.0, jitter=0.5, rng=random.Random(3))
    waits = [patience.after_refusal(None if i % 2 else 0.0).seconds for i in range(8)]
    for k, wait in enumerate(waits):
        step = min(8.0, 0.5 * 2**k)
        assert step / 2 <= wait <= step
    assert max(waits) <= 8.0 and waits[4] > waits[0] * 4


def test_jitter_spreads_workers_refused_together():
    first = [Patience(600, rng=random.Random(seed)).after_failure().seconds for seed in range(20)]
    assert len(set(first)) == 20
    assert all(0.25 <= w <= 0.5 for w in first)


def test_a_success_starts_the_next_request_from_the_bottom():
    patience = Patience(600, jitter=0.0)
    for _ in range(5):
        patience.after_failure()
    patience.after_refusal(3.0)
    patience.succeeded()
    assert patience.after_failure().seconds == 0.5
    patience.succeeded()
    assert patience.after_refusal(3.0) == ("retry_after", 3.0)  # honoured fresh, not "too short"


def test_waits_are_cut_to_the_budget_and_recorded_waits_spend_it():
    patience = Patience(10, jitter=0.0)
    assert not patience.exhausted
    patience.record(4)
    assert patience.after_refusal(30.0) == ("retry_after", 6.0)
    patience.record(6)
    assert patience.exhausted and patience.remaining_s == 0


def test_a_retry_after_is_capped():
    assert Patience(600, max_retry_after_s=120).after_refusal(3600).seconds == 120


def test_interactive_patience_is_seconds():
    patience = Patience.interactive()
    assert patience.budget_s == INTERACTIVE_PATIENCE_S <= 20
    assert all(patience.after_failure().seconds <= 2.0 for _ in range(10))


@pytest.mark.parametrize(
    "kwargs", [{"budget_s": -1}, {"backoff_base_s": 0}, {"backoff_cap_s": 0.1}, {"jitter": 1.5}]
)
def test_nonsense_is_refused(kwargs):
    with pytest.raises(ValueError):
        Patience(**kwargs)


# -- the client within its budget ---------------------------------------------------------------


def test_retry_after_1_ten_times_still_succeeds_within_the_budget():
    # The old client gave up after 6 attempts: five 429s failed a whole message in seconds.
    clock = FakeTime()
    harvest = client([refused("1")] * 10 + [OK], clock)
    assert harvest.get("/company") == {"id": 1}
    assert harvest.requests_made == 11
    assert len(clock.sleeps) == 10 and all(s >= 1.0 for s in clock.sleeps)
    # Retry-After 1 kept being answered by a 429: the waits grew beyond it.
    assert clock.sleeps[-1] > 5 * clock.sleeps[0]
    assert clock.now < 600


def test_a_missing_retry_after_leads_to_growing_jittered_waits():
    clock = FakeTime()
    harvest = client([refused()] * 6 + [OK], clock, patience=Patience(600, rng=random.Random(5)))
    harvest.get("/company")
    assert len(clock.sleeps) == 6
    for k, wait in enumerate(clock.sleeps):
        step = min(30.0, 0.5 * 2**k)
        assert step / 2 <= wait <= step
    assert clock.sleeps[-1] > 4 * clock.sleeps[0]


def test_retry_after_0_is_not_a_busy_loop():
    clock = FakeTime()
    harvest = client([refused("0")] * 4 + [OK], clock)
    harvest.get("/company")
    assert len(clock.sleeps) == 4 and min(clock.sleeps) > 0
    assert clock.sleeps[3] > clock.sleeps[0]


def test_the_budget_spent_gives_up_with_harvest_unavailable():
    clock = FakeTime()
    harvest = client([refused("4")], clock, patience_s=30)
    with pytest.raises(HarvestUnavailable, match="rate limit persisted"):
        harvest.get("/company")
    # Waited exactly the budget (the last wait cut to what remained), then gave up.
    assert clock.now == pytest.approx(30)
    assert harvest.patience.exhausted
    assert harvest.requests_made == len(clock.sleeps) + 1


def test_the_budget_is_shared_by_the_requests_of_one_client():
    clock = FakeTime()
    harvest = client([refused("6"), OK, refused("6"), OK, refused("6")], clock, patience_s=15)
    harvest.get("/users/me")
    harvest.get("/company")
    with pytest.raises(HarvestUnavailable):
        harvest.get("/clients")  # 12 s of 15 spent: 3 s left, then no more
    assert clock.sleeps == [6, 6, 3]


def test_a_two_minute_outage_is_ridden_out():
    clock = FakeTime()

    class Outage(ScriptedAdapter):
        def send(self, request, **kwargs):  # type: ignore[override]
            if clock.now < 120:
                self.calls += 1
                raise requests.ConnectionError("connection refused")
            return super().send(request, **kwargs)

    harvest_side = Outage([OK])
    reasons: list[str] = []
    harvest = client(harvest_side, clock, on_wait=lambda reason, s: reasons.append(reason))
    assert harvest.get("/company") == {"id": 1}
    assert 120 <= clock.now < 160  # backoffs capped at 30 s: back soon after Harvest is
    assert max(clock.sleeps) <= 30
    assert harvest_side.calls > 6
    assert set(reasons) == {"unavailable"}


@pytest.mark.parametrize("failure", [(503, {}), (502, {}), requests.Timeout("read timed out")])
def test_5xx_and_timeouts_are_waited_on_under_the_same_budget(failure):
    clock = FakeTime()
    harvest = client([failure], clock, patience_s=20)
    with pytest.raises(HarvestUnavailable):
        harvest.get("/company")
    assert clock.now == pytest.approx(20)
    assert len(clock.sleeps) >= 6  # more than the 6 attempts the client used to stop at


def test_max_attempts_still_bounds_the_attempts_when_given():
    clock = FakeTime()
    harvest = client([refused("1")], clock, max_attempts=3)
    with pytest.raises(HarvestUnavailable):
        harvest.get("/company")
    assert harvest.requests_made == 3 and len(clock.sleeps) == 2


def test_on_wait_hears_each_wait_before_it_starts():
    clock = FakeTime()
    heard: list[tuple[str, float]] = []
    sources: list[str] = []

    def on_wait(reason: str, seconds: float) -> None:
        clock.events.append("on_wait")
        heard.append((reason, seconds))

    script = [refused("4"), (503, {}), requests.ConnectionError("refused"), refused(), OK]
    harvest = client(script, clock, on_wait=on_wait, on_wait_source=lambda src, s: sources.append(src))
    harvest.get("/company")
    assert clock.events == ["on_wait", "sleep"] * 4
    assert [reason for reason, _ in heard] == ["rate_limited", "unavailable", "unavailable", "rate_limited"]
    assert heard[0] == ("rate_limited", 4.0)
    assert [s for _, s in heard] == clock.sleeps
    assert sources == ["retry_after", "unavailable", "unavailable", "backoff"]


def test_a_429_is_told_to_a_throttle_that_learns_and_not_to_a_plain_one():
    class Learning:
        def __init__(self) -> None:
            self.taken = self.refusals = 0

        def __call__(self) -> None:
            self.taken += 1

        def refused(self) -> None:
            self.refusals += 1

    learning, plain_calls = Learning(), []
    clock = FakeTime()
    harvest = client([refused("1"), refused("1"), OK, OK], clock, throttle=learning)
    harvest.get("/company")
    assert (learning.taken, learning.refusals) == (3, 2)
    harvest = client([refused("1"), OK], FakeTime(), throttle=lambda: plain_calls.append(1))
    harvest.get("/company")
    assert plain_calls == [1, 1]


def test_a_retry_after_given_as_a_date_is_honoured():
    clock = FakeTime()
    in_30_s = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    harvest = client([refused(in_30_s), refused("Wed, 21 Oct 2015 07:28:00 GMT"), OK], clock)
    harvest.get("/company")
    assert 28 <= clock.sleeps[0] <= 30  # the header has whole seconds
    # A date already past says nothing: a short backoff, not a busy loop.
    assert 0 < clock.sleeps[1] <= 1.0


# -- App.harvest_for ---------------------------------------------------------------------------


def _app_and_account(**settings: object) -> tuple[App, AccountRecord]:
    key = generate_key()
    base = Settings(
        database_url="postgresql+psycopg2://u@127.0.0.1:1/x", amqp_url="amqp://h", secret_keys=(key,)
    )
    app = build_app(dataclasses.replace(base, **settings), engine=sa.create_engine(base.database_url))
    account = AccountRecord(
        id=5,
        name="acme",
        harvest_account_id=77,
        token_sealed=app.cipher.seal("tok"),
        import_clients_projects=True,
        import_people=True,
        import_actuals=True,
        autofill=False,
        timezone="UTC",
        status="active",
        status_reason=None,
    )
    return app, account


def test_workers_get_harvest_patience_s_and_people_get_seconds():
    app, account = _app_and_account(harvest_patience_s=123.0, harvest_rate_limit=None)
    worker = app.harvest_for(account, lambda reason, s: None)
    assert worker.patience.budget_s == 123
    assert app.harvest_for(account, interactive=True).patience.budget_s == INTERACTIVE_PATIENCE_S
    assert app.harvest_for(account).patience is not worker.patience  # a budget per client
