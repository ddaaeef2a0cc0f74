"""Clients, projects and people as imported, each list with "Import from Harvest"; sync_off
on projects; linking a Harvest id to an existing entity (external references)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from domain.actuals import SYNC_OFF_TAG
from producers.console.web import action, core, done, field, page, render
from producers.services import accounts, planning, views
from producers.services.errors import ServiceError


def _account(request: Request):  # type: ignore[no-untyped-def]
    return accounts.get_account(core(request), int(request.path_params["account_id"]))


def _render_list(request: Request, template: str, status_code: int = 200, **context: object) -> Response:
    account = _account(request)
    app = core(request)
    counts = views.counts(app, account.id)
    return render(request, template, status_code, account=account, counts=counts, **context)


def clients_page(request: Request) -> Response:
    account_id = int(request.path_params["account_id"])
    return _render_list(request, "clients.html", clients=views.clients(core(request), account_id))


def projects_page(request: Request) -> Response:
    account_id = int(request.path_params["account_id"])
    return _render_list(request, "projects.html", projects=views.projects(core(request), account_id))


def people_page(request: Request) -> Response:
    account_id = int(request.path_params["account_id"])
    return _render_list(request, "people.html", people=views.people(core(request), account_id))


def set_sync_off(request: Request, form: FormData) -> Response:
    account = _account(request)
    project_id = int(request.path_params["project_id"])
    turn_off = form.get("sync_off") == "on"
    to = f"/accounts/{account.id}/projects"
    try:
        planning.tag_project(
            core(request),
            account.id,
            project_id,
            add=SYNC_OFF_TAG if turn_off else None,
            remove=None if turn_off else SYNC_OFF_TAG,
        )
    except ServiceError as exc:
        return done(request, to, str(exc), "error")
    state = "ignores its new time (sync_off)" if turn_off else "syncs again"
    return done(
        request, field(form, "back") or to, f"Project {project_id} {state}; from the next actuals sync."
    )


def references_page(request: Request) -> Response:
    app = core(request)
    account_id = int(request.path_params["account_id"])
    return _render_list(
        request,
        "references.html",
        choices=_choices(app, account_id),
        links=views.manual_links(app, account_id),
        error=None,
        values={},
    )


def _choices(app, account_id: int) -> dict[str, list[tuple[int, str]]]:  # type: ignore[no-untyped-def]
    return {
        "client": [(c["id"], c["name"]) for c in views.clients(app, account_id)],
        "project": [(p["id"], p["name"]) for p in views.projects(app, account_id)],
        "person": [(p["id"], f"{p['first_name']} {p['last_name']}") for p in views.people(app, account_id)],
    }


def link(request: Request, form: FormData) -> Response:
    app = core(request)
    account = _account(request)
    values = {"entity": field(form, "entity"), "harvest_id": field(form, "harvest_id")}
    entity_type, _, entity_id = values["entity"].partition(":")
    try:
        if not entity_id.isdigit():
            raise ServiceError("choose the client, project or person to link")
        if not values["harvest_id"].isdigit() or int(values["harvest_id"]) < 1:
            raise ServiceError("the Harvest id is a number, e.g. 14308069")
        planning.link_harvest_id(app, account.id, entity_type, int(entity_id), int(values["harvest_id"]))
    except ServiceError as exc:
        return _render_list(
            request,
            "references.html",
            status_code=400,
            choices=_choices(app, account.id),
            links=views.manual_links(app, account.id),
            error=str(exc),
            values=values,
        )
    return done(
        request,
        f"/accounts/{account.id}/references",
        f"{entity_type.capitalize()} {entity_id} linked to Harvest id {values['harvest_id']}.",
    )


routes = [
    page("/accounts/{account_id:int}/clients", clients_page),
    page("/accounts/{account_id:int}/projects", projects_page),
    action("/accounts/{account_id:int}/projects/{project_id:int}/sync-off", set_sync_off),
    page("/accounts/{account_id:int}/people", people_page),
    page("/accounts/{account_id:int}/references", references_page),
    action("/accounts/{account_id:int}/references", link),
]
