"""Field schemas for every simulated collection, and coercion of control-API input.

Records of the small collections are plain dicts holding the Harvest scalar fields plus
reference ids (``client_id``, ``project_id``...). Names of referenced objects are never
copied into a record: they are looked up when rendering, so a rename shows up everywhere,
as it does in Harvest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.timeutil import parse_date, to_epoch

COLLECTIONS: tuple[str, ...] = (
    "clients",
    "tasks",
    "projects",
    "users",
    "roles",
    "user_assignments",
    "task_assignments",
    "time_entries",
)

# First id handed out per collection. Ranges are far apart so ids stay unique across the
# whole account; time entries start above 2^31 like real ones (2380504951 was seen in 2024).
ID_BASES: dict[str, int] = {
    "roles": 1_100_000,
    "users": 3_700_000,
    "clients": 11_000_000,
    "tasks": 16_000_000,
    "projects": 31_000_000,
    "user_assignments": 120_000_000,
    "task_assignments": 250_000_000,
    "time_entries": 2_400_000_000,
}

BILL_BY = ("Project", "Tasks", "People", "none")
BUDGET_BY = ("project", "project_cost", "task", "task_fees", "person", "none")
APPROVAL_STATUSES = ("unsubmitted", "submitted", "approved")


class StoreError(Exception):
    """A rejected mutation; ``status`` and ``message`` become the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Field:
    """Type of one writable field: kind is bool, int, num, str, date, ts, json or strlist."""

    kind: str
    nullable: bool = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Ref:
    """A reference to another collection, written as ``<name>_id`` or ``{"<name>": {"id": N}}``."""

    key: str
    collection: str
    required: bool = True


_STR = Field("str")
_STR_NULL = Field("str", nullable=True)
_BOOL = Field("bool")
_NUM_NULL = Field("num", nullable=True)
_DATE_NULL = Field("date", nullable=True)

SCHEMAS: dict[str, dict[str, Field]] = {
    "clients": {
        "name": _STR,
        "is_active": _BOOL,
        "address": _STR_NULL,
        "statement_key": _STR,
        "currency": _STR,
    },
    "tasks": {
        "name": _STR,
        "billable_by_default": _BOOL,
        "default_hourly_rate": _NUM_NULL,
        "is_default": _BOOL,
        "is_active": _BOOL,
    },
    "projects": {
        "name": _STR,
        "code": _STR_NULL,
        "is_active": _BOOL,
        "is_billable": _BOOL,
        "is_fixed_fee": _BOOL,
        "bill_by": Field("str", choices=BILL_BY),
        "budget": _NUM_NULL,
        "budget_by": Field("str", choices=BUDGET_BY),
        "budget_is_monthly": _BOOL,
        "notify_when_over_budget": _BOOL,
        "over_budget_notification_percentage": Field("num"),
        "show_budget_to_all": _BOOL,
        "starts_on": _DATE_NULL,
        "ends_on": _DATE_NULL,
        "over_budget_notification_date": _DATE_NULL,
        "notes": _STR_NULL,
        "cost_budget": _NUM_NULL,
        "cost_budget_include_expenses": _BOOL,
        "hourly_rate": _NUM_NULL,
        "fee": _NUM_NULL,
    },
    "users": {
        "first_name": _STR,
        "last_name": _STR,
        "email": _STR,
        "telephone": _STR,
        "timezone": _STR,
        "weekly_capacity": Field("int"),
        "has_access_to_all_future_projects": _BOOL,
        "is_contractor": _BOOL,
        "is_active": _BOOL,
        "calendar_integration_enabled": _BOOL,
        "calendar_integration_source": _STR_NULL,
        "can_create_projects": _BOOL,
        "default_hourly_rate": _NUM_NULL,
        "cost_rate": _NUM_NULL,
        "access_roles": Field("strlist"),
        "permissions_claims": Field("strlist"),
        "avatar_url": _STR,
    },
    "roles": {"name": _STR},
    "user_assignments": {
        "is_project_manager": _BOOL,
        "is_active": _BOOL,
        "use_default_rates": _BOOL,
        "budget": _NUM_NULL,
        "hourly_rate": _NUM_NULL,
    },
    "task_assignments": {
        "billable": _BOOL,
        "is_active": _BOOL,
        "hourly_rate": _NUM_NULL,
        "budget": _NUM_NULL,
    },
    "time_entries": {
        "spent_date": Field("date"),
        "hours": Field("num"),
        "hours_without_timer": Field("num"),
        "rounded_hours": Field("num"),
        "notes": _STR_NULL,
        "is_locked": _BOOL,
        "locked_reason": _STR_NULL,
        "approval_status": Field("str", choices=APPROVAL_STATUSES),
        "is_closed": _BOOL,
        "is_billed": _BOOL,
        "timer_started_at": Field("ts", nullable=True),
        "started_time": _STR_NULL,
        "ended_time": _STR_NULL,
        "is_running": _BOOL,
        "billable": _BOOL,
        "budgeted": _BOOL,
        "billable_rate": _NUM_NULL,
        "cost_rate": _NUM_NULL,
        "invoice": Field("json", nullable=True),
        "external_reference": Field("json", nullable=True),
    },
}

REFS: dict[str, tuple[Ref, ...]] = {
    "projects": (Ref("client_id", "clients"),),
    "user_assignments": (Ref("project_id", "projects"), Ref("user_id", "users")),
    "task_assignments": (Ref("project_id", "projects"), Ref("task_id", "tasks")),
    "time_entries": (
        Ref("user_id", "users"),
        Ref("project_id", "projects"),
        Ref("task_id", "tasks", required=False),
    ),
}

# Keys handled by the store itself rather than copied: membership lists and stamps.
SPECIAL_KEYS: dict[str, frozenset[str]] = {
    "users": frozenset({"roles"}),
    "roles": frozenset({"user_ids"}),
}
STAMP_KEYS = frozenset({"id", "created_at", "updated_at"})
# Nested objects Harvest prints but which are derived here; accepted and ignored on input
# so that a rendered object can be fed back into create/update unchanged.
DERIVED_KEYS: dict[str, frozenset[str]] = {
    "projects": frozenset(),
    "user_assignments": frozenset(),
    "task_assignments": frozenset(),
    "time_entries": frozenset({"client", "user_assignment", "task_assignment"}),
}


def coerce_field(name: str, spec: Field, value: Any) -> Any:
    """Check and normalise one input value; raises StoreError(422) when it does not fit."""
    if value is None:
        if spec.nullable:
            return None
        raise StoreError(422, f"{name} can't be blank")
    try:
        return _coerce_kind(spec, value)
    except (TypeError, ValueError) as exc:
        raise StoreError(422, f"{name} is invalid: {exc}") from exc


def _coerce_kind(spec: Field, value: Any) -> Any:
    kind = spec.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected an integer")
        return value
    if kind == "num":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("expected a number")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError("expected a string")
        if spec.choices is not None and value not in spec.choices:
            raise ValueError(f"must be one of {', '.join(spec.choices)}")
        return value
    if kind == "date":
        return parse_date(value)
    if kind == "ts":
        return to_epoch(value)
    if kind == "json":
        if not isinstance(value, dict):
            raise TypeError("expected an object")
        return dict(value)
    if kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise TypeError("expected a list of strings")
        return list(value)
    raise AssertionError(f"unknown field kind {kind}")


def extract_ref(collection: str, ref: Ref, fields: dict[str, Any]) -> tuple[bool, int | None]:
    """Read a reference given flat (``project_id``) or nested (``{"project": {"id": N}}``).

    Returns (present, id).
    """
    if ref.key in fields:
        raw = fields[ref.key]
    else:
        nested = fields.get(ref.key[: -len("_id")])
        if not isinstance(nested, dict) or "id" not in nested:
            return False, None
        raw = nested["id"]
    if raw is None:
        return True, None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise StoreError(422, f"{ref.key} must be an integer id")
    return True, raw


def check_known_keys(collection: str, fields: dict[str, Any]) -> None:
    """Reject keys the collection does not have, so a typo in a test fails loudly."""
    known = set(SCHEMAS[collection]) | STAMP_KEYS | SPECIAL_KEYS.get(collection, frozenset())
    known |= DERIVED_KEYS.get(collection, frozenset())
    for ref in REFS.get(collection, ()):
        known |= {ref.key, ref.key[: -len("_id")]}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise StoreError(422, f"unknown field(s) for {collection}: {', '.join(unknown)}")
