"""What the planner fixes by hand: a person's role (Unknown, for instance), a project's tags
(sync_off), a Harvest id linked to an existing entity, and the ledger of what is held."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from infra.app import App
from infra.db.entities import AlreadyLinked
from infra.db.planning import PlanningRepository
from producers.services.errors import ServiceError

T = TypeVar("T")
ENTITY_TYPES = ("client", "project", "person")


def in_account(app: App, account_id: int, action: Callable[[PlanningRepository], T]) -> T:
    """Run `action(repo)` in one transaction of the account; a refusal is a ServiceError."""
    with app.uow() as u:
        try:
            result = action(PlanningRepository(u.conn, account_id))
        except (LookupError, ValueError) as exc:
            raise ServiceError(str(exc)) from None
        u.commit()
    return result


def set_person_role(app: App, account_id: int, person_id: int, role: str) -> None:
    """The person's role; their time moves to it at the next actuals sync."""
    in_account(app, account_id, lambda repo: repo.set_person_role(person_id, role))


def tag_project(
    app: App, account_id: int, project_id: int, *, add: str | None = None, remove: str | None = None
) -> list[str]:
    """Add or remove one tag (sync_off ignores the project's new time); returns the tags."""
    return in_account(app, account_id, lambda repo: repo.tag_project(project_id, add=add, remove=remove))


def ledger(app: App, account_id: int) -> list[dict]:
    return in_account(app, account_id, lambda repo: repo.ledger())


def link_harvest_id(app: App, account_id: int, entity_type: str, entity_id: int, harvest_id: int) -> None:
    """Attach a Harvest id to an existing client, project or person: the next import then
    finds it instead of creating a duplicate. An id another entity holds is refused."""
    if entity_type not in ENTITY_TYPES:
        raise ServiceError(f"a Harvest id links to a client, project or person, not {entity_type!r}")
    with app.uow() as u:
        try:
            u.entities.link(account_id, entity_type, entity_id, harvest_id)
        except (LookupError, AlreadyLinked) as exc:
            raise ServiceError(str(exc)) from None
        u.commit()
