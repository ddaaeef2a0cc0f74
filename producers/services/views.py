"""What the console shows of an account, read in one transaction each: its lists, the people
whose role is Unknown (with their roles in Harvest), the ledger with each cause's fix, and a
project's weekly actuals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from domain.accounts import AccountRecord
from domain.schedule import AccountSchedule, next_slot
from infra.app import App
from infra.db.listings import AccountListings
from infra.harvest.errors import HarvestAuthError, HarvestUnavailable
from producers.services.errors import NotFound, ServiceError

# reason -> (what holds the records, what fixes it); the console links each fix to its page.
HELD_FIXES = {
    "person_not_imported": (
        "The Harvest person is not here yet.",
        "Import people from Harvest, or link the Harvest id to an existing person.",
    ),
    "project_not_imported": (
        "The Harvest project is not here yet.",
        "Import clients and projects from Harvest, or link the Harvest id to an existing project.",
    ),
    "role_unknown": (
        "The person's role is Unknown (no role, or several, in Harvest).",
        "Set the person's role.",
    ),
    "project_sync_off": (
        "The project carries the sync_off tag; what was imported before stays.",
        "Remove the sync_off tag if its time should count.",
    ),
    "missing_name": ("The record has no name in Harvest.", "Name it in Harvest, then import again."),
}


def _listings(app: App, account_id: int, read):  # type: ignore[no-untyped-def]
    with app.uow() as u:
        try:
            return read(AccountListings(u.conn, account_id))
        except LookupError as exc:
            raise NotFound(str(exc)) from None


def clients(app: App, account_id: int) -> list[dict]:
    return _listings(app, account_id, lambda v: v.clients())


def projects(app: App, account_id: int) -> list[dict]:
    return _listings(app, account_id, lambda v: v.projects())


def people(app: App, account_id: int) -> list[dict]:
    return _listings(app, account_id, lambda v: v.people())


def manual_links(app: App, account_id: int) -> list[dict]:
    return _listings(app, account_id, lambda v: v.manual_links())


@dataclass(frozen=True)
class Counts:
    unknown_people: int
    held: int


def counts(app: App, account_id: int) -> Counts:
    """What the account's navigation flags: Unknown roles to fix, records held."""
    return _listings(
        app,
        account_id,
        lambda v: Counts(len(v.unknown_people()), sum(v.held_by_reason().values())),
    )


@dataclass(frozen=True)
class UnknownRoles:
    people: list[dict]  # each with "harvest_roles": list[str] | None
    roles: list[str]
    held_for_unknown: int
    harvest_roles_error: str | None
    next_actuals_at: datetime | None

    @property
    def all_fixed(self) -> bool:
        return not self.people


def unknown_roles(app: App, account: AccountRecord) -> UnknownRoles:
    """People whose role is Unknown, each with their roles in Harvest (read now, so they are
    current) and the roles to choose from."""
    people, roles, held = _listings(
        app,
        account.id,
        lambda v: (v.unknown_people(), v.roles(), v.held_by_reason().get("role_unknown", 0)),
    )
    error = None
    harvest_roles: dict[int, list[str]] = {}
    if people:
        try:
            harvest_roles = roles_in_harvest(app, account)
        except ServiceError as exc:
            error = str(exc)
    for p in people:
        names = sorted({n for hid in p["harvest_ids"] for n in harvest_roles.get(hid, [])})
        p["harvest_roles"] = None if error else names
    return UnknownRoles(people, roles, held, error, next_actuals(account))


def roles_in_harvest(app: App, account: AccountRecord) -> dict[int, list[str]]:
    """Harvest user id -> role names, from /v2/users and /v2/roles (a page each per 2,000)."""
    by_user: dict[int, set[str]] = {}
    client = app.harvest_for(account, interactive=True)  # the page waits for it
    try:
        for page in client.pages("/users", "users"):
            for user in page:
                by_user.setdefault(int(user["id"]), set()).update(user.get("roles") or [])
        try:
            for page in client.pages("/roles", "roles"):
                for role in page:
                    for user_id in role.get("user_ids") or []:
                        by_user.setdefault(int(user_id), set()).add(role["name"])
        except HarvestAuthError as exc:
            if exc.status != 403:  # roles need an Administrator; the users' own names remain
                raise
    except HarvestAuthError as exc:
        raise ServiceError(f"Harvest refused the account's token ({exc.status}): replace it") from None
    except HarvestUnavailable:
        raise ServiceError("Harvest did not answer: the roles it lists are not shown") from None
    finally:
        client.close()
    return {uid: sorted(names) for uid, names in by_user.items()}


def next_actuals(account: AccountRecord, now: datetime | None = None) -> datetime | None:
    if not account.import_actuals or account.status != "active":
        return None
    schedule = AccountSchedule(
        account.id,
        account.timezone,
        account.import_clients_projects,
        account.import_people,
        account.import_actuals,
        account.autofill,
    )
    return next_slot(schedule, "actuals", now or datetime.now(UTC))


@dataclass(frozen=True)
class HeldGroup:
    reason: str
    cause: str
    fix: str
    row: dict


def ledger(app: App, account_id: int) -> tuple[dict[str, int], list[HeldGroup]]:
    """Held records per reason, and grouped by the Harvest person and project, with the fix."""
    totals, groups = _listings(app, account_id, lambda v: (v.held_by_reason(), v.held_groups()))
    unknown = ("Not imported.", "See the reason in the CLI's `admin ledger`.")
    return totals, [HeldGroup(g["reason"], *HELD_FIXES.get(g["reason"], unknown), g) for g in groups]


@dataclass(frozen=True)
class Week:
    monday: date
    billable_minutes: int
    nonbillable_minutes: int

    @property
    def total_minutes(self) -> int:
        return self.billable_minutes + self.nonbillable_minutes


@dataclass(frozen=True)
class ProjectActuals:
    project: dict
    weeks: list[Week]
    harvest_report: dict | None  # see harvest_report_comparison


def project_actuals(app: App, account_id: int, project_id: int) -> ProjectActuals:
    project, weeks = _listings(
        app, account_id, lambda v: (v.project(project_id), v.weekly_actuals(project_id))
    )
    return ProjectActuals(
        project=project,
        weeks=[Week(*w) for w in weeks],
        harvest_report=harvest_report_comparison(app, account_id, project_id),
    )


def harvest_report_comparison(app: App, account_id: int, project_id: int) -> dict | None:
    """Our hours of the project against Harvest's own report of it, as the last `admin verify`
    (or the weekly check) stored them. None before any check: no comparison is shown."""
    with app.uow() as u:
        latest = u.verifications.latest(account_id)
        rows = u.verifications.project_rows(account_id, latest["id"], project_id) if latest else []
    if not rows:
        return None
    theirs = sum(r["harvest_hours"] for r in rows)
    ours = sum(r["our_hours"] for r in rows)
    verdict = (
        "they match" if not any(r["differs"] for r in rows) else f"ours differ by {ours - theirs:+.2f} h"
    )
    checked = latest["checked_at"].strftime("%Y-%m-%d %H:%M UTC")
    return {
        "harvest_hours": theirs,
        "our_hours": ours,
        "differs": any(r["differs"] for r in rows),
        "summary": (
            f"Harvest's time report for {latest['range_from']} .. {latest['range_to']} has {theirs:.2f} h,"
            f" our entries {ours:.2f} h: {verdict} (checked {checked})."
        ),
    }
