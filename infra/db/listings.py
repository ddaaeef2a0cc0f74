"""What the console lists for one account: entities with their Harvest ids, people whose role
is Unknown, held entries grouped by cause, a project's weekly actuals. Read-only; every query
is filtered by the account."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from domain.actuals import SYNC_OFF_TAG
from infra.db import export
from infra.db import tables as t
from infra.db.scoping import require_in_account

UNKNOWN_KEY = "unknown"  # role_match_key("Unknown")
LEDGER_GROUPS_SHOWN = 500


class AccountListings:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def clients(self) -> list[dict]:
        return export.clients(self.conn, self.account_id)

    def projects(self) -> list[dict]:
        names = {c["id"]: c["name"] for c in self.clients()}
        rows = export.projects(self.conn, self.account_id)
        return [
            {**p, "client": names.get(p["client_id"]), "sync_off": SYNC_OFF_TAG in p["tags"]} for p in rows
        ]

    def people(self) -> list[dict]:
        return export.people(self.conn, self.account_id)

    def project(self, project_id: int) -> dict:
        require_in_account(self.conn, t.projects, self.account_id, project_id, "project")
        return next(p for p in self.projects() if p["id"] == project_id)

    def roles(self) -> list[str]:
        """Role names a person can be given (Unknown is what they are being taken from)."""
        r = t.roles
        rows = self.conn.execute(
            sa.select(r.c.name)
            .where(r.c.account_id == self.account_id, r.c.match_key != UNKNOWN_KEY)
            .order_by(r.c.match_key)
        )
        return [name for (name,) in rows]

    def unknown_people(self) -> list[dict]:
        """People whose role is Unknown, with their Harvest ids and entries held for them."""
        return [
            dict(row)
            for row in self.conn.execute(
                sa.text(
                    """
                    SELECT p.id, p.first_name, p.last_name, p.email, p.archived,
                           array_remove(array_agg(refs.harvest_id ORDER BY refs.harvest_id), NULL)
                               AS harvest_ids,
                           (SELECT count(*) FROM import_ledger AS l
                            WHERE l.account_id = :a AND l.reason = 'role_unknown'
                              AND (l.detail->>'harvest_user_id')::bigint = ANY(array_agg(refs.harvest_id)))
                               AS held
                    FROM people AS p
                    JOIN roles AS r ON r.account_id = p.account_id AND r.id = p.role_id
                     AND r.match_key = :unknown
                    LEFT JOIN external_refs AS refs
                      ON refs.account_id = :a AND refs.entity_type = 'person' AND refs.person_id = p.id
                    WHERE p.account_id = :a
                    GROUP BY p.account_id, p.id ORDER BY p.last_name, p.first_name, p.id
                    """
                ),
                {"a": self.account_id, "unknown": UNKNOWN_KEY},
            ).mappings()
        ]

    def held_by_reason(self) -> dict[str, int]:
        led = t.import_ledger
        rows = self.conn.execute(
            sa.select(led.c.reason, sa.func.count())
            .where(led.c.account_id == self.account_id)
            .group_by(led.c.reason)
            .order_by(led.c.reason)
        )
        return dict(rows.all())

    def held_groups(self) -> list[dict]:
        """Held records grouped by reason and by the Harvest person and project they name,
        with our person and project where we have them (what the fix acts on)."""
        return [
            dict(row)
            for row in self.conn.execute(
                sa.text(
                    """
                    WITH g AS (
                        SELECT reason, record_type,
                               CASE WHEN record_type = 'time_entry' THEN NULL ELSE harvest_id END
                                   AS record_harvest_id,
                               (detail->>'harvest_user_id')::bigint AS harvest_user_id,
                               (detail->>'harvest_project_id')::bigint AS harvest_project_id,
                               count(*) AS records,
                               sum((detail->>'hours')::numeric) AS hours,
                               min(detail->>'spent_date') AS first_day,
                               max(detail->>'spent_date') AS last_day
                        FROM import_ledger WHERE account_id = :a
                        GROUP BY 1, 2, 3, 4, 5
                    )
                    SELECT g.*, pr.person_id, p.first_name, p.last_name,
                           pj.project_id, q.name AS project_name
                    FROM g
                    LEFT JOIN external_refs AS pr ON pr.account_id = :a AND pr.entity_type = 'person'
                         AND pr.harvest_id = g.harvest_user_id
                    LEFT JOIN people AS p ON p.account_id = pr.account_id AND p.id = pr.person_id
                    LEFT JOIN external_refs AS pj ON pj.account_id = :a AND pj.entity_type = 'project'
                         AND pj.harvest_id = g.harvest_project_id
                    LEFT JOIN projects AS q ON q.account_id = pj.account_id AND q.id = pj.project_id
                    ORDER BY g.reason, g.records DESC, g.harvest_user_id, g.harvest_project_id
                    LIMIT :shown
                    """
                ),
                {"a": self.account_id, "shown": LEDGER_GROUPS_SHOWN},
            ).mappings()
        ]

    def manual_links(self) -> list[dict]:
        """External references set by hand, newest first."""
        refs = t.external_refs
        rows = self.conn.execute(
            sa.select(
                refs.c.entity_type,
                sa.func.coalesce(refs.c.client_id, refs.c.project_id, refs.c.person_id).label("entity_id"),
                refs.c.harvest_id,
                refs.c.created_at,
            )
            .where(refs.c.account_id == self.account_id, refs.c.source == "manual")
            .order_by(refs.c.created_at.desc(), refs.c.id.desc())
        ).mappings()
        return [dict(r) for r in rows]

    def weekly_actuals(self, project_id: int) -> list[tuple[date, int, int]]:
        """(Monday, billable minutes, non-billable minutes) per week with actuals."""
        require_in_account(self.conn, t.projects, self.account_id, project_id, "project")
        a = t.actuals
        week = sa.cast(sa.func.date_trunc("week", a.c.date), sa.Date).label("week")
        rows = self.conn.execute(
            sa.select(week, sa.func.sum(a.c.billable_minutes), sa.func.sum(a.c.nonbillable_minutes))
            .where(a.c.account_id == self.account_id, a.c.project_id == project_id)
            .group_by(week)
            .order_by(week)
        )
        return [(w, int(b), int(n)) for w, b, n in rows]
