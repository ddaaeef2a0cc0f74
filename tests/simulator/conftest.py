"""Fixtures for simulator tests: a started simulator with one small generated account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from simulator.server import SimulatorServer

ACCOUNT_ID = 1000001
TOKEN = "test-token"
END_DATE = "2024-06-28"  # a Friday; fixed so generated data is deterministic


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A running simulator with account ACCOUNT_ID; rate limiting off unless a test turns it on."""
    with SimulatorServer() as server:
        server.add_account(account_id=ACCOUNT_ID, token=TOKEN, seed=1, end_date=END_DATE)
        server.configure(rate_limit_enabled=False)
        yield server


def _session_for(token: str = TOKEN, account_id: int | str = ACCOUNT_ID) -> requests.Session:
    """A requests session sending the headers Harvest requires."""
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Harvest-Account-Id": str(account_id),
            "User-Agent": "harvest-sync tests (dev@example.com)",
        }
    )
    return session


@pytest.fixture
def api(sim: SimulatorServer) -> Iterator[requests.Session]:
    """An authenticated session for the fixture account."""
    with _session_for() as session:
        yield session


@pytest.fixture
def session_for() -> Callable[..., requests.Session]:
    """Factory of sessions for other tokens / accounts: session_for(token, account_id)."""
    return _session_for


@pytest.fixture
def follow() -> Callable[..., list[dict[str, Any]]]:
    """follow(session, url, **params): every envelope of a list, following links.next."""
    return _follow


def _follow(session: requests.Session, url: str, **params: object) -> list[dict[str, Any]]:
    """Every page of a list, following links.next; returns the envelopes."""
    envelopes = []
    response = session.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        envelope = response.json()
        envelopes.append(envelope)
        assert len(envelopes) < 1000, "pagination does not end"
        if envelope["links"]["next"] is None:
            return envelopes
        response = session.get(envelope["links"]["next"])
