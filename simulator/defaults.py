"""Default field values for new records and for an account's company object.

The generator starts from these too, so every record always carries every field Harvest
documents, whichever path created it.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]

MEMBER_CLAIMS = ["expenses:read:own", "expenses:write:own", "timers:read:own", "timers:write:own"]
MANAGER_CLAIMS = [
    "expenses:read:managed",
    "expenses:write:own",
    "projects:read:managed",
    "timers:read:managed",
    "timers:write:own",
]
ADMIN_CLAIMS = [
    f"{area}:{mode}:all"
    for area in (
        "billable_rates",
        "clients",
        "cost_rates",
        "estimates",
        "expenses",
        "invoices",
        "projects",
        "tasks",
        "timers",
        "users",
    )
    for mode in ("read", "write")
] + ["billing:read:own", "billing:write:own", "company:read:own", "company:write:own"]


def claims_for(access_roles: list[str]) -> list[str]:
    """Undocumented ``permissions_claims`` as seen in real users, by access level."""
    if "administrator" in access_roles:
        return sorted(ADMIN_CLAIMS)
    if "manager" in access_roles:
        return list(MANAGER_CLAIMS)
    return list(MEMBER_CLAIMS)


def default_record(collection: str, record_id: int, currency: str = "USD") -> Record:
    """A complete record with Harvest's defaults, before caller-supplied fields."""
    base: Record = {"id": record_id, "created_at": 0, "updated_at": 0}
    if collection == "clients":
        base.update(
            name=f"Client {record_id}",
            is_active=True,
            address=None,
            statement_key=f"{record_id * 2654435761 % 16**32:032x}",
            currency=currency,
        )
    elif collection == "tasks":
        base.update(
            name=f"Task {record_id}",
            billable_by_default=True,
            default_hourly_rate=None,
            is_default=False,
            is_active=True,
        )
    elif collection == "projects":
        base.update(
            client_id=None,
            name=f"Project {record_id}",
            code=None,
            is_active=True,
            is_billable=True,
            is_fixed_fee=False,
            bill_by="Project",
            budget=None,
            budget_by="none",
            budget_is_monthly=False,
            notify_when_over_budget=False,
            over_budget_notification_percentage=80.0,
            show_budget_to_all=False,
            starts_on=None,
            ends_on=None,
            over_budget_notification_date=None,
            notes=None,
            cost_budget=None,
            cost_budget_include_expenses=False,
            hourly_rate=None,
            fee=None,
        )
    elif collection == "users":
        base.update(
            first_name="New",
            last_name=f"Person {record_id}",
            email=f"person{record_id}@example.com",
            telephone="",
            timezone="Eastern Time (US & Canada)",
            weekly_capacity=126000,
            has_access_to_all_future_projects=False,
            is_contractor=False,
            is_active=True,
            calendar_integration_enabled=False,
            calendar_integration_source=None,
            can_create_projects=False,
            default_hourly_rate=None,
            cost_rate=None,
            access_roles=["member"],
            permissions_claims=list(MEMBER_CLAIMS),
            avatar_url="https://d3s3969qhosaug.cloudfront.net/v2/default-avatars/1.png",
        )
    elif collection == "roles":
        base.update(name=f"Role {record_id}", user_ids=[])
    elif collection == "user_assignments":
        base.update(
            project_id=None,
            user_id=None,
            is_project_manager=False,
            is_active=True,
            use_default_rates=True,
            budget=None,
            hourly_rate=None,
        )
    elif collection == "task_assignments":
        base.update(
            project_id=None,
            task_id=None,
            billable=True,
            is_active=True,
            hourly_rate=None,
            budget=None,
        )
    else:
        raise ValueError(f"no defaults for {collection}")
    return base


def default_company(account_id: int, name: str = "Simulated Agency") -> Record:
    """The /v2/company object, in the field order of a real 2022 response."""
    slug = "".join(ch for ch in name.lower() if ch.isalnum()) or f"account{account_id}"
    return {
        "base_uri": f"https://{slug}.harvestapp.com",
        "full_domain": f"{slug}.harvestapp.com",
        "name": name,
        "is_active": True,
        "week_start_day": "Monday",
        "wants_timestamp_timers": False,
        "time_format": "decimal",
        "date_format": "%Y-%m-%d",
        "plan_type": "simple-v4",
        "expense_feature": True,
        "invoice_feature": True,
        "estimate_feature": True,
        "team_feature": True,
        "weekly_capacity": 144000,
        "approval_feature": True,
        "clock": "12h",
        "currency": "USD",
        "currency_code_display": "iso_code_none",
        "currency_symbol_display": "symbol_before",
        "decimal_symbol": ".",
        "thousands_separator": ",",
        "color_scheme": "orange",
    }
