"""Connecting an account checks its credentials against Harvest first: each way they can be
wrong gets its own clear reason, and nothing is stored until they pass."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from infra.db import tables as t
from producers.services.accounts import connect_account, get_account, replace_token
from producers.services.errors import InvalidInput, ServiceError

HARVEST_ID = 4_500_001
TOKEN = "pat-connect-good"


@pytest.fixture
def harvest(simulator):
    return simulator.add_account(
        account_id=HARVEST_ID, token=TOKEN, seed=3, people=3, projects=2, clients=1, days=2
    )


def _accounts(core) -> list:
    with core.engine.connect() as conn:
        return conn.execute(sa.select(t.accounts)).mappings().all()


def _connect(core, **changes):
    values = {"name": "acme", "harvest_account_id": HARVEST_ID, "token": TOKEN, **changes}
    return connect_account(core, **values)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"token": "pat-wrong"}, "token", f"Harvest did not accept this token for account id {HARVEST_ID}"),
        (
            {"harvest_account_id": 4_599_999},
            "token",
            "Harvest did not accept this token for account id 4599999",
        ),
        ({"token": "   "}, "token", "paste the Harvest personal access token"),
        ({"name": " "}, "name", "must not be empty"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"harvest_account_id": 0}, "harvest_account_id", "whole numbers from 1"),
    ],
)
def test_wrong_credentials_are_refused_and_nothing_is_stored(core, harvest, changes, field, reason):
    with pytest.raises(InvalidInput) as refused:
        _connect(core, **changes)
    assert refused.value.field == field and reason in str(refused.value)
    assert _accounts(core) == []


def test_a_token_of_someone_not_an_administrator_is_refused(core, harvest):
    harvest.update("users", harvest.owner_user_id, {"access_roles": ["manager"]})
    with pytest.raises(InvalidInput, match="who is not an Administrator in Harvest"):
        _connect(core)
    assert _accounts(core) == []


def test_a_token_that_may_not_read_the_company_is_refused(core, harvest, simulator):
    simulator.forbid(HARVEST_ID, ["/v2/company"])
    with pytest.raises(InvalidInput, match=r"may not read the company \(403\)"):
        _connect(core)
    assert _accounts(core) == []


def test_harvest_down_is_said_so_and_nothing_is_stored(core, harvest, simulator):
    simulator.configure(error_rate=1.0)
    with pytest.raises(ServiceError, match="Harvest did not answer; nothing was saved"):
        _connect(core)
    assert _accounts(core) == []


def test_good_credentials_are_stored_sealed_with_when(core, harvest):
    account_id, access = _connect(core)
    (row,) = _accounts(core)
    assert row["id"] == account_id and row["token_set_at"] is not None
    assert TOKEN.encode() not in bytes(row["token_sealed"])
    assert core.cipher.open(row["token_sealed"]) == TOKEN
    assert access.company == harvest.company["name"]
    with pytest.raises(InvalidInput, match="an account named 'acme' already exists"):
        _connect(core)


def test_a_replacement_token_is_checked_before_it_replaces(core, harvest, simulator):
    account_id, _ = _connect(core)
    account = get_account(core, account_id)
    with pytest.raises(InvalidInput):
        replace_token(core, account, "pat-wrong", check=True)
    assert core.cipher.open(_accounts(core)[0]["token_sealed"]) == TOKEN
    simulator.set_token(HARVEST_ID, "pat-new")
    replace_token(core, account, "pat-new", check=True)
    assert core.cipher.open(_accounts(core)[0]["token_sealed"]) == "pat-new"
