"""Import rules for clients, projects and people, as pure functions over plain data."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

UNKNOWN_ROLE = "Unknown"


class ProjectType(StrEnum):
    TIME_AND_MATERIALS = "time_and_materials"
    FIXED_PRICE = "fixed_price"
    NON_BILLABLE = "non_billable"


def role_match_key(name: str) -> str:
    """Role names match case- and space-insensitively: ' Senior  developer' == 'senior developer'."""
    return " ".join(name.split()).casefold()


def pick_role(harvest_role_names: list[str]) -> str:
    """Exactly one distinct Harvest role gives that role; none or several give 'Unknown'."""
    distinct: dict[str, str] = {}
    for name in harvest_role_names:
        key = role_match_key(name)
        if key:
            distinct.setdefault(key, " ".join(name.split()))
    if len(distinct) != 1:
        return UNKNOWN_ROLE
    return next(iter(distinct.values()))


def project_type(*, is_billable: bool, is_fixed_fee: bool) -> ProjectType:
    if not is_billable:
        return ProjectType.NON_BILLABLE
    if is_fixed_fee:
        return ProjectType.FIXED_PRICE
    return ProjectType.TIME_AND_MATERIALS


def project_budget(*, budget_by: str | None, cost_budget: object) -> Decimal | None:
    """Only Harvest's 'Total project fees' budget (budget_by=project_cost) is imported."""
    if budget_by != "project_cost" or cost_budget is None:
        return None
    return Decimal(str(cost_budget))


@dataclass(frozen=True)
class NewClient:
    harvest_id: int
    name: str
    archived: bool


@dataclass(frozen=True)
class NewProject:
    harvest_id: int
    name: str
    harvest_client_id: int | None
    project_type: ProjectType
    budget: Decimal | None
    archived: bool


@dataclass(frozen=True)
class NewPerson:
    harvest_id: int
    first_name: str
    last_name: str
    email: str | None
    role_name: str
    cost: Decimal | None
    archived: bool


def client_from_harvest(obj: dict) -> NewClient:
    return NewClient(harvest_id=int(obj["id"]), name=obj["name"], archived=not obj.get("is_active", True))


def project_from_harvest(obj: dict) -> NewProject:
    client = obj.get("client") or {}
    return NewProject(
        harvest_id=int(obj["id"]),
        name=obj["name"],
        harvest_client_id=int(client["id"]) if client.get("id") is not None else None,
        project_type=project_type(
            is_billable=bool(obj.get("is_billable", True)), is_fixed_fee=bool(obj.get("is_fixed_fee"))
        ),
        budget=project_budget(budget_by=obj.get("budget_by"), cost_budget=obj.get("cost_budget")),
        archived=not obj.get("is_active", True),
    )


def person_from_harvest(obj: dict, listed_role_names: list[str] | None = None) -> NewPerson:
    """`listed_role_names` are the user's roles as /v2/roles lists them (ids on both sides); they
    are merged with the user's own `roles` names, so either source alone is enough."""
    names = list(obj.get("roles") or []) + list(listed_role_names or [])
    cost = obj.get("cost_rate")
    return NewPerson(
        harvest_id=int(obj["id"]),
        first_name=obj.get("first_name") or "",
        last_name=obj.get("last_name") or "",
        email=obj.get("email"),
        role_name=pick_role(names),
        cost=Decimal(str(cost)) if cost is not None else None,
        archived=not obj.get("is_active", True),
    )


def is_harvest_administrator(user: dict) -> bool:
    """Whether a Harvest user (e.g. /v2/users/me) is an Administrator: `access_roles` since
    2022, the older `is_admin` flag before it."""
    roles = user.get("access_roles")
    if isinstance(roles, list):
        return "administrator" in roles
    return user.get("is_admin") is True
