"""Entity discovery: new clients, projects and people from Harvest, create-only.

Matching is purely on Harvest id through external references; an existing entity is never
updated from Harvest, and one linked by hand is never duplicated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import structlog

from consumers.pipeline import Context, Outcome
from domain.accounts import AccountRecord
from domain.commands import SyncEntities
from domain.model import (
    UNKNOWN_ROLE,
    client_from_harvest,
    person_from_harvest,
    project_from_harvest,
    role_match_key,
)
from infra.db.uow import UnitOfWork
from infra.harvest.client import HarvestClient
from infra.harvest.errors import HarvestAuthError

log = structlog.get_logger(__name__)


HarvestFor = Callable[[AccountRecord], HarvestClient]


def sync_entities(cmd: SyncEntities, ctx: Context, *, harvest_for: HarvestFor) -> Outcome:
    account, u = ctx.account, ctx.u
    kinds = [k for k in cmd.kinds if account.imports(k)]
    counts: Counter = Counter()
    harvest = harvest_for(account)
    try:
        if "clients_projects" in kinds:
            counts += _import_clients(u, account.id, harvest)
            counts += _import_projects(u, account.id, harvest)
        if "people" in kinds:
            counts += _import_people(u, account.id, harvest)
    finally:
        harvest.close()
    now = ctx.clock()
    for kind in kinds:
        u.accounts.record_success(account.id, kind, now)
    for kind in set(cmd.kinds) - set(kinds):
        counts[f"{kind}.skipped.import_off"] += 1
    log.info("entities_synced", account_id=account.id, **{k.replace(".", "_"): v for k, v in counts.items()})
    return Outcome(counts)


def _import_clients(u: UnitOfWork, account_id: int, harvest: HarvestClient) -> Counter:
    counts: Counter = Counter()
    for page in harvest.pages("/clients", "clients"):
        drafts = [client_from_harvest(o) for o in page if _named(o, u, account_id, "client", counts)]
        known = u.entities.linked(account_id, "client", (d.harvest_id for d in drafts))
        new = [d for d in _unique(drafts) if d.harvest_id not in known]
        u.entities.create_clients(account_id, new)
        counts["clients.created"] += len(new)
        counts["clients.present"] += len(known)
    return counts


def _import_projects(u: UnitOfWork, account_id: int, harvest: HarvestClient) -> Counter:
    counts: Counter = Counter()
    for page in harvest.pages("/projects", "projects"):
        drafts = [project_from_harvest(o) for o in page if _named(o, u, account_id, "project", counts)]
        known = u.entities.linked(account_id, "project", (d.harvest_id for d in drafts))
        new = [d for d in _unique(drafts) if d.harvest_id not in known]
        client_ids = u.entities.linked(
            account_id, "client", (d.harvest_client_id for d in new if d.harvest_client_id)
        )
        u.entities.create_projects(account_id, new, client_ids)
        counts["projects.created"] += len(new)
        counts["projects.present"] += len(known)
    return counts


def _import_people(u: UnitOfWork, account_id: int, harvest: HarvestClient) -> Counter:
    counts: Counter = Counter()
    role_names = _role_names_by_user(harvest)
    for page in harvest.pages("/users", "users"):
        drafts = [
            person_from_harvest(o, role_names.get(int(o["id"]))) for o in page if o.get("id") is not None
        ]
        known = u.entities.linked(account_id, "person", (d.harvest_id for d in drafts))
        new = [d for d in _unique(drafts) if d.harvest_id not in known]
        role_ids = u.entities.ensure_roles(account_id, {d.role_name for d in new})
        u.entities.create_people(account_id, new, role_ids)
        counts["people.created"] += len(new)
        counts["people.present"] += len(known)
        counts["people.role_unknown"] += sum(
            role_match_key(d.role_name) == role_match_key(UNKNOWN_ROLE) for d in new
        )
    return counts


def _role_names_by_user(harvest: HarvestClient) -> dict[int, list[str]]:
    """Role names per user from /v2/roles (ids on both sides); empty when the token may not list
    roles (admin only), in which case each user's own `roles` names are all there is."""
    by_user: dict[int, list[str]] = {}
    try:
        for page in harvest.pages("/roles", "roles"):
            for role in page:
                for user_id in role.get("user_ids") or []:
                    by_user.setdefault(int(user_id), []).append(role["name"])
    except HarvestAuthError as exc:
        if exc.status != 403:
            raise
        log.info("roles_forbidden_using_user_roles")
        return {}
    return by_user


def _named(obj: dict, u: UnitOfWork, account_id: int, record_type: str, counts: Counter) -> bool:
    """A record without id or name cannot be imported: count it and put it in the ledger."""
    if obj.get("id") is not None and (obj.get("name") or "").strip():
        return True
    counts[f"{record_type}s.skipped.missing_name"] += 1
    if obj.get("id") is not None:
        u.entities.add_ledger(account_id, record_type, int(obj["id"]), "missing_name", {})
    return False


def _unique(drafts: list) -> list:
    """Harvest pages can overlap while data changes; keep each Harvest id once."""
    seen: set[int] = set()
    out = []
    for d in drafts:
        if d.harvest_id not in seen:
            seen.add(d.harvest_id)
            out.append(d)
    return out
