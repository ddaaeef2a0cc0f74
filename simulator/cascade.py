"""What deleting a record does to the rest of the account, following Harvest's rules (§5):
refusals answer 422 like Harvest, a project takes its entries and assignments with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.schema import StoreError

if TYPE_CHECKING:
    from simulator.store import AccountStore


def no_rule(store: AccountStore, record_id: int) -> None:
    """Deletes with no preconditions (roles, time entries)."""
    return None


def _delete_client(store: AccountStore, client_id: int) -> None:
    if any(p["client_id"] == client_id for p in store.tables["projects"].values()):
        raise StoreError(422, "This client is not removable. It still has projects and/or invoices.")


def _delete_project(store: AccountStore, project_id: int) -> None:
    # Harvest: deleting a project also deletes its time entries (doc §5) and assignments.
    store.remove_where("time_entries", lambda e: e.project_id == project_id)
    store.remove_where("user_assignments", lambda ua: ua["project_id"] == project_id)
    store.remove_where("task_assignments", lambda ta: ta["project_id"] == project_id)


def _delete_user(store: AccountStore, user_id: int) -> None:
    if store.any_entry(lambda e: e.user_id == user_id):
        raise StoreError(422, "This person is not removable. They still have time entries.")
    store.remove_where("user_assignments", lambda ua: ua["user_id"] == user_id)
    now = store.now()
    for role in store.tables["roles"].values():
        if user_id in role["user_ids"]:
            role["user_ids"] = [u for u in role["user_ids"] if u != user_id]
            role["updated_at"] = now
    store.touch("roles")


def _delete_task(store: AccountStore, task_id: int) -> None:
    if store.any_entry(lambda e: e.task_id == task_id):
        raise StoreError(422, "This task is not removable. It still has time entries.")
    store.remove_where("task_assignments", lambda ta: ta["task_id"] == task_id)


def _delete_user_assignment(store: AccountStore, ua_id: int) -> None:
    if store.any_entry(lambda e: e.ua_id == ua_id):
        raise StoreError(422, "This user assignment is not removable. It has time entries.")


def _delete_task_assignment(store: AccountStore, ta_id: int) -> None:
    if store.any_entry(lambda e: e.ta_id == ta_id):
        raise StoreError(422, "This task assignment is not removable. It has time entries.")


DELETE_RULES: dict[str, Callable[[AccountStore, int], None]] = {
    "clients": _delete_client,
    "projects": _delete_project,
    "users": _delete_user,
    "tasks": _delete_task,
    "user_assignments": _delete_user_assignment,
    "task_assignments": _delete_task_assignment,
}
