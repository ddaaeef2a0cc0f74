"""Clients, projects, people, roles and their Harvest external references."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from domain.model import NewClient, NewPerson, NewProject, role_match_key
from infra.db import tables as t
from infra.db.scoping import require_in_account

TARGET_COLUMN = {"client": "client_id", "project": "project_id", "person": "person_id"}
ENTITY_TABLE = {"client": t.clients, "project": t.projects, "person": t.people}


class AlreadyLinked(ValueError):
    """The Harvest id already belongs to another entity of that type in this account."""


class EntityRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def linked(self, account_id: int, entity_type: str, harvest_ids: Iterable[int]) -> dict[int, int]:
        """Map each given Harvest id that has an owner to that owner's id."""
        ids = sorted(set(harvest_ids))
        if not ids:
            return {}
        target = t.external_refs.c[TARGET_COLUMN[entity_type]]
        rows = self.conn.execute(
            sa.select(t.external_refs.c.harvest_id, target).where(
                t.external_refs.c.account_id == account_id,
                t.external_refs.c.entity_type == entity_type,
                t.external_refs.c.harvest_id.in_(ids),
            )
        )
        return {r[0]: r[1] for r in rows}

    def create_clients(self, account_id: int, drafts: Sequence[NewClient]) -> dict[int, int]:
        rows = [{"account_id": account_id, "name": d.name, "archived": d.archived} for d in drafts]
        return self._create("client", account_id, [d.harvest_id for d in drafts], rows)

    def create_projects(
        self, account_id: int, drafts: Sequence[NewProject], client_ids: dict[int, int]
    ) -> dict[int, int]:
        rows = [
            {
                "account_id": account_id,
                "name": d.name,
                "client_id": client_ids.get(d.harvest_client_id) if d.harvest_client_id else None,
                "project_type": d.project_type.value,
                "budget": d.budget,
                "archived": d.archived,
            }
            for d in drafts
        ]
        return self._create("project", account_id, [d.harvest_id for d in drafts], rows)

    def create_people(
        self, account_id: int, drafts: Sequence[NewPerson], role_ids: dict[str, int]
    ) -> dict[int, int]:
        rows = [
            {
                "account_id": account_id,
                "first_name": d.first_name,
                "last_name": d.last_name,
                "email": d.email,
                "role_id": role_ids[role_match_key(d.role_name)],
                "cost": d.cost,
                "archived": d.archived,
            }
            for d in drafts
        ]
        return self._create("person", account_id, [d.harvest_id for d in drafts], rows)

    def _create(
        self, entity_type: str, account_id: int, harvest_ids: list[int], rows: list[dict]
    ) -> dict[int, int]:
        if not rows:
            return {}
        table = ENTITY_TABLE[entity_type]
        # sort_by_parameter_order guarantees the returned ids line up with the rows sent.
        new_ids = (
            self.conn.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
        column = TARGET_COLUMN[entity_type]
        self.conn.execute(
            sa.insert(t.external_refs),
            [
                {"account_id": account_id, "entity_type": entity_type, column: eid, "harvest_id": hid}
                for hid, eid in zip(harvest_ids, new_ids, strict=True)
            ],
        )
        return dict(zip(harvest_ids, new_ids, strict=True))

    def link(self, account_id: int, entity_type: str, entity_id: int, harvest_id: int) -> None:
        """Attach a Harvest id to an existing entity by hand (the seed's external reference)."""
        require_in_account(self.conn, ENTITY_TABLE[entity_type], account_id, entity_id, entity_type)
        owner = self.linked(account_id, entity_type, [harvest_id]).get(harvest_id)
        if owner == entity_id:
            return
        if owner is not None:
            raise AlreadyLinked(
                f"Harvest {entity_type} id {harvest_id} is already linked to {entity_type} {owner}"
            )
        stmt = insert(t.external_refs).values(
            account_id=account_id,
            entity_type=entity_type,
            harvest_id=harvest_id,
            source="manual",
            **{TARGET_COLUMN[entity_type]: entity_id},
        )
        # A concurrent link of the same id loses on the unique key, never duplicates it.
        if self.conn.execute(stmt.on_conflict_do_nothing().returning(t.external_refs.c.id)).first() is None:
            raise AlreadyLinked(f"Harvest {entity_type} id {harvest_id} was linked concurrently")

    def role_ids(self, account_id: int) -> dict[str, int]:
        rows = self.conn.execute(
            sa.select(t.roles.c.match_key, t.roles.c.id).where(t.roles.c.account_id == account_id)
        )
        return {r[0]: r[1] for r in rows}

    def ensure_roles(self, account_id: int, names: Iterable[str]) -> dict[str, int]:
        """Create the roles not yet known (by match key); return match key -> id for all."""
        wanted = {role_match_key(n): " ".join(n.split()) for n in names}
        if wanted:
            self.conn.execute(
                insert(t.roles)
                .values(
                    [{"account_id": account_id, "name": n, "match_key": k} for k, n in sorted(wanted.items())]
                )
                .on_conflict_do_nothing(index_elements=["account_id", "match_key"])
            )
        return self.role_ids(account_id)

    def count(self, account_id: int, entity_type: str) -> int:
        table = ENTITY_TABLE[entity_type]
        return self.conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.account_id == account_id)
        ).scalar_one()

    def add_ledger(
        self, account_id: int, record_type: str, harvest_id: int, reason: str, detail: dict
    ) -> None:
        stmt = insert(t.import_ledger).values(
            account_id=account_id,
            record_type=record_type,
            harvest_id=harvest_id,
            reason=reason,
            detail=detail,
        )
        self.conn.execute(
            stmt.on_conflict_do_update(
                constraint="import_ledger_one_per_record",
                set_={"reason": reason, "detail": detail, "last_seen_at": sa.func.now()},
            )
        )
