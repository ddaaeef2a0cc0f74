"""Turn stored records into the JSON objects Harvest returns, in Harvest's field order.

Field order follows recorded real responses (fastruby/harvesting cassettes, Airbyte's
expected records) so that the simulator's bytes look like the real thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.timeutil import format_ts

if TYPE_CHECKING:
    from simulator.store import AccountStore
    from simulator.time_entries import TimeEntry

Record = dict[str, Any]


def user_name(user: Record | None) -> str | None:
    """Display name Harvest embeds in nested ``user`` objects."""
    if user is None:
        return None
    return f"{user['first_name']} {user['last_name']}"


def render_client(rec: Record) -> Record:
    """A client object as listed by /v2/clients."""
    return {
        "id": rec["id"],
        "name": rec["name"],
        "is_active": rec["is_active"],
        "address": rec["address"],
        "statement_key": rec["statement_key"],
        "created_at": format_ts(rec["created_at"]),
        "updated_at": format_ts(rec["updated_at"]),
        "currency": rec["currency"],
    }


def render_task(rec: Record) -> Record:
    """A task object as listed by /v2/tasks."""
    return {
        "id": rec["id"],
        "name": rec["name"],
        "billable_by_default": rec["billable_by_default"],
        "default_hourly_rate": rec["default_hourly_rate"],
        "is_default": rec["is_default"],
        "is_active": rec["is_active"],
        "created_at": format_ts(rec["created_at"]),
        "updated_at": format_ts(rec["updated_at"]),
    }


def nested_client(store: AccountStore, client_id: int | None) -> Record | None:
    """``{id, name, currency}`` as embedded in projects and time entries."""
    if client_id is None:
        return None
    client = store.tables["clients"].get(client_id)
    if client is None:
        return {"id": client_id, "name": None, "currency": None}
    return {"id": client_id, "name": client["name"], "currency": client["currency"]}


def nested_project(store: AccountStore, project_id: int) -> Record:
    """``{id, name, code}`` as embedded in assignments and time entries."""
    project = store.tables["projects"].get(project_id)
    if project is None:
        return {"id": project_id, "name": None, "code": None}
    return {"id": project_id, "name": project["name"], "code": project["code"]}


def render_project(store: AccountStore, rec: Record) -> Record:
    """A project object as listed by /v2/projects."""
    return {
        "id": rec["id"],
        "name": rec["name"],
        "code": rec["code"],
        "is_active": rec["is_active"],
        "is_billable": rec["is_billable"],
        "is_fixed_fee": rec["is_fixed_fee"],
        "bill_by": rec["bill_by"],
        "budget": rec["budget"],
        "budget_by": rec["budget_by"],
        "budget_is_monthly": rec["budget_is_monthly"],
        "notify_when_over_budget": rec["notify_when_over_budget"],
        "over_budget_notification_percentage": rec["over_budget_notification_percentage"],
        "show_budget_to_all": rec["show_budget_to_all"],
        "created_at": format_ts(rec["created_at"]),
        "updated_at": format_ts(rec["updated_at"]),
        "starts_on": rec["starts_on"],
        "ends_on": rec["ends_on"],
        "over_budget_notification_date": rec["over_budget_notification_date"],
        "notes": rec["notes"],
        "cost_budget": rec["cost_budget"],
        "cost_budget_include_expenses": rec["cost_budget_include_expenses"],
        "hourly_rate": rec["hourly_rate"],
        "fee": rec["fee"],
        "client": nested_client(store, rec["client_id"]),
    }


def render_user(store: AccountStore, rec: Record) -> Record:
    """A user object as listed by /v2/users; ``roles`` comes from role membership."""
    return {
        "id": rec["id"],
        "first_name": rec["first_name"],
        "last_name": rec["last_name"],
        "email": rec["email"],
        "telephone": rec["telephone"],
        "timezone": rec["timezone"],
        "weekly_capacity": rec["weekly_capacity"],
        "has_access_to_all_future_projects": rec["has_access_to_all_future_projects"],
        "is_contractor": rec["is_contractor"],
        "is_active": rec["is_active"],
        "calendar_integration_enabled": rec["calendar_integration_enabled"],
        "calendar_integration_source": rec["calendar_integration_source"],
        "created_at": format_ts(rec["created_at"]),
        "updated_at": format_ts(rec["updated_at"]),
        "can_create_projects": rec["can_create_projects"],
        "default_hourly_rate": rec["default_hourly_rate"],
        "cost_rate": rec["cost_rate"],
        "roles": list(store.role_names_by_user().get(rec["id"], ())),
        "access_roles": list(rec["access_roles"]),
        "permissions_claims": list(rec["permissions_claims"]),
        "avatar_url": rec["avatar_url"],
    }


def render_role(rec: Record) -> Record:
    """A role object as listed by /v2/roles."""
    return {
        "id": rec["id"],
        "name": rec["name"],
        "created_at": format_ts(rec["created_at"]),
        "updated_at": format_ts(rec["updated_at"]),
        "user_ids": list(rec["user_ids"]),
    }


def ua_core(rec: Record) -> Record:
    """User-assignment fields without project/user, as nested in time entries."""
    return {
        "id": rec["id"],
        "is_project_manager": rec["is_project_manager"],
        "is_active": rec["is_active"],
        "use_default_rates": rec["use_default_rates"],
        "budget": rec["budget"],
        "created_at": format_ts(rec["created_at"]),
        "updated_at": format_ts(rec["updated_at"]),
        "hourly_rate": rec["hourly_rate"],
    }


def render_user_assignment(store: AccountStore, rec: Record) -> Record:
    """A user assignment as listed by /v2/user_assignments."""
    out = ua_core(rec)
    out["project"] = nested_project(store, rec["project_id"])
    user = store.tables["users"].get(rec["user_id"])
    out["user"] = {"id": rec["user_id"], "name": user_name(user)}
    return out


def ta_core(rec: Record) -> Record:
    """Task-assignment fields without project/task, as nested in time entries."""
    return {
        "id": rec["id"],
        "billable": rec["billable"],
        "is_active": rec["is_active"],
        "created_at": format_ts(rec["created_at"]),
        "updated_at": format_ts(rec["updated_at"]),
        "hourly_rate": rec["hourly_rate"],
        "budget": rec["budget"],
    }


def nested_task(store: AccountStore, task_id: int | None) -> Record | None:
    """``{id, name}`` as embedded in task assignments and time entries."""
    if task_id is None:
        return None
    task = store.tables["tasks"].get(task_id)
    return {"id": task_id, "name": task["name"] if task else None}


def render_task_assignment(store: AccountStore, rec: Record) -> Record:
    """A task assignment as listed by /v2/task_assignments."""
    out = ta_core(rec)
    out["project"] = nested_project(store, rec["project_id"])
    out["task"] = nested_task(store, rec["task_id"])
    return out


def render_time_entries(
    store: AccountStore, entries: list[TimeEntry], now: int, live_timers: bool
) -> list[Record]:
    """Render a page of time entries.

    Nested objects are built once per page and shared between entries: a page of 2000
    entries typically touches a few dozen users and projects, and json.dumps does not care
    that the same dict appears many times.
    """
    nested: dict[tuple[str, int | None], Any] = {}
    tables = store.tables
    out: list[Record] = []
    append = out.append
    for entry in entries:
        key_user = ("u", entry.user_id)
        user = nested.get(key_user)
        if user is None:
            user = {"id": entry.user_id, "name": user_name(tables["users"].get(entry.user_id))}
            nested[key_user] = user
        key_project = ("p", entry.project_id)
        project = nested.get(key_project)
        if project is None:
            project = nested_project(store, entry.project_id)
            nested[key_project] = project
            project_rec = tables["projects"].get(entry.project_id)
            client_id = project_rec["client_id"] if project_rec else None
            nested[("c", entry.project_id)] = nested_client(store, client_id)
        key_task = ("t", entry.task_id)
        if key_task not in nested:
            nested[key_task] = nested_task(store, entry.task_id)
        key_ua = ("ua", entry.ua_id)
        if key_ua not in nested:
            ua = tables["user_assignments"].get(entry.ua_id) if entry.ua_id else None
            nested[key_ua] = ua_core(ua) if ua else None
        key_ta = ("ta", entry.ta_id)
        if key_ta not in nested:
            ta = tables["task_assignments"].get(entry.ta_id) if entry.ta_id else None
            nested[key_ta] = ta_core(ta) if ta else None
        hours = entry.hours
        if live_timers and entry.is_running and entry.timer_started_at is not None:
            elapsed = max(0, now - entry.timer_started_at) / 3600.0
            hours = round(entry.hours_without_timer + elapsed, 2)
        append(
            {
                "id": entry.id,
                "spent_date": entry.spent_date,
                "hours": hours,
                "hours_without_timer": entry.hours_without_timer,
                "rounded_hours": entry.rounded_hours,
                "notes": entry.notes,
                "is_locked": entry.is_locked,
                "locked_reason": entry.locked_reason,
                "approval_status": entry.approval_status,
                "is_closed": entry.approval_status == "approved",
                "is_billed": entry.is_billed,
                "timer_started_at": format_ts(entry.timer_started_at),
                "started_time": entry.started_time,
                "ended_time": entry.ended_time,
                "is_running": entry.is_running,
                "billable": entry.billable,
                "budgeted": entry.budgeted,
                "billable_rate": entry.billable_rate,
                "cost_rate": entry.cost_rate,
                "created_at": format_ts(entry.created_at),
                "updated_at": format_ts(entry.updated_at),
                "user": user,
                "client": nested[("c", entry.project_id)],
                "project": project,
                "task": nested[key_task],
                "user_assignment": nested[key_ua],
                "task_assignment": nested[key_ta],
                "invoice": entry.invoice,
                "external_reference": entry.external_reference,
            }
        )
    return out


def render_records(
    store: AccountStore, collection: str, records: list[Any], now: int, live_timers: bool = False
) -> list[Record]:
    """Render records of any collection (time entries get the per-page fast path)."""
    if collection == "time_entries":
        return render_time_entries(store, records, now, live_timers)
    renderer = _RENDERERS[collection]
    return [renderer(store, rec) for rec in records]


_RENDERERS = {
    "clients": lambda store, rec: render_client(rec),
    "tasks": lambda store, rec: render_task(rec),
    "projects": render_project,
    "users": render_user,
    "roles": lambda store, rec: render_role(rec),
    "user_assignments": render_user_assignment,
    "task_assignments": render_task_assignment,
}
