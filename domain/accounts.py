"""An account, a tenant, as the rules see it: what it imports, its time zone and working days,
where its actuals start, and whether it needs a person's attention. Its token travels sealed
(only infra.crypto opens it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

KIND_FLAGS = {
    "clients_projects": "import_clients_projects",
    "people": "import_people",
    "actuals": "import_actuals",
    "autofill": "autofill",
}


@dataclass(frozen=True)
class AccountRecord:
    id: int
    name: str
    harvest_account_id: int
    token_sealed: bytes = field(repr=False)
    import_clients_projects: bool
    import_people: bool
    import_actuals: bool
    autofill: bool
    timezone: str
    status: str
    status_reason: str | None
    actuals_start_date: date | None = None
    full_reconcile_days: int = 7
    working_days: tuple[int, ...] = (1, 2, 3, 4, 5)
    token_set_at: datetime | None = None

    def imports(self, kind: str) -> bool:
        return bool(getattr(self, KIND_FLAGS[kind]))
