import itertools
from decimal import Decimal

import pytest

from domain.model import (
    UNKNOWN_ROLE,
    ProjectType,
    person_from_harvest,
    pick_role,
    project_budget,
    project_from_harvest,
    project_type,
    role_match_key,
)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Designer"], "Designer"),
        ([" senior   Developer "], "senior Developer"),
        ([], UNKNOWN_ROLE),
        (["Designer", "Developer"], UNKNOWN_ROLE),
        # The same role spelt twice is still one role.
        (["Designer", " designer"], "Designer"),
        (["", "  "], UNKNOWN_ROLE),
    ],
)
def test_pick_role_takes_exactly_one_distinct_role(names, expected):
    assert pick_role(names) == expected


def test_role_match_key_ignores_case_and_spacing():
    assert role_match_key("  Senior\tDeveloper ") == role_match_key("senior developer")
    assert role_match_key("Senior Developer") != role_match_key("SeniorDeveloper")


@pytest.mark.parametrize(
    ("is_billable", "is_fixed_fee", "expected"),
    [
        (True, False, ProjectType.TIME_AND_MATERIALS),
        (True, True, ProjectType.FIXED_PRICE),
        (False, False, ProjectType.NON_BILLABLE),
        (False, True, ProjectType.NON_BILLABLE),
    ],
)
def test_project_type_from_harvest_flags(is_billable, is_fixed_fee, expected):
    assert project_type(is_billable=is_billable, is_fixed_fee=is_fixed_fee) is expected


@pytest.mark.parametrize(
    ("budget_by", "cost_budget", "expected"),
    [
        ("project_cost", 21910.0, Decimal("21910.0")),
        ("project_cost", None, None),
        ("project", 21910.0, None),
        ("task", 100, None),
        ("task_fees", 100, None),
        ("person", 150, None),
        ("none", None, None),
    ],
)
def test_only_total_project_fees_budget_is_imported(budget_by, cost_budget, expected):
    assert project_budget(budget_by=budget_by, cost_budget=cost_budget) == expected


def test_project_from_harvest_maps_every_field():
    draft = project_from_harvest(
        {
            "id": 14308069,
            "name": "Online Store",
            "client": {"id": 5735776, "name": "ABC", "currency": "USD"},
            "is_active": False,
            "is_billable": True,
            "is_fixed_fee": True,
            "budget_by": "project_cost",
            "budget": None,
            "cost_budget": 21900.0,
        }
    )
    assert draft.harvest_id == 14308069
    assert draft.harvest_client_id == 5735776
    assert draft.project_type is ProjectType.FIXED_PRICE
    assert draft.budget == Decimal("21900.0")
    assert draft.archived is True


def test_person_from_harvest_uses_cost_rate_and_roles():
    person = person_from_harvest(
        {"id": 1, "first_name": "Ada", "last_name": "L", "email": "a@x", "cost_rate": 55.5, "roles": ["Dev"]}
    )
    assert (person.role_name, person.cost, person.archived) == ("Dev", Decimal("55.5"), False)
    nobody = person_from_harvest(
        {"id": 2, "first_name": "B", "last_name": "C", "cost_rate": None, "roles": []}
    )
    assert (nobody.role_name, nobody.cost) == (UNKNOWN_ROLE, None)


def test_role_names_from_roles_endpoint_merge_with_user_roles():
    listed_only = person_from_harvest({"id": 1, "first_name": "A", "last_name": "B", "roles": []}, ["Dev"])
    assert listed_only.role_name == "Dev"
    same = person_from_harvest({"id": 1, "first_name": "A", "last_name": "B", "roles": ["dev"]}, ["Dev"])
    assert same.role_name.casefold() == "dev"
    several = person_from_harvest({"id": 1, "first_name": "A", "last_name": "B", "roles": ["Dev"]}, ["Ops"])
    assert several.role_name == "Unknown"


def test_split_history_covers_every_day_once():
    from datetime import date, timedelta

    from domain.actuals import split_history

    oldest, newest = date(2025, 1, 1), date(2025, 12, 31)
    ranges = split_history(oldest, newest, total_entries=750_000, per_part=50_000)
    assert len(ranges) == 15
    assert ranges[0][0] == oldest and ranges[-1][1] == newest
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start == end + timedelta(days=1)
    assert split_history(oldest, oldest, 10**6, 10) == [(oldest, oldest)]
