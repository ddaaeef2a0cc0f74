"""People whose role is Unknown: their roles in Harvest, a role picker, and once all are
fixed, word that the held actuals import at the next sync."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from producers.console.web import action, core, done, field, page, render
from producers.services import accounts, planning, views
from producers.services.errors import ServiceError


def unknown_page(request: Request) -> Response:
    app = core(request)
    account = accounts.get_account(app, int(request.path_params["account_id"]))
    return render(
        request,
        "people_unknown.html",
        account=account,
        counts=views.counts(app, account.id),
        unknown=views.unknown_roles(app, account),
    )


def set_role(request: Request, form: FormData) -> Response:
    app = core(request)
    account_id = int(request.path_params["account_id"])
    person_id = int(request.path_params["person_id"])
    role = field(form, "role")
    to = field(form, "back") or f"/accounts/{account_id}/people/unknown"
    try:
        if not role:
            raise ServiceError("type or pick a role")
        planning.set_person_role(app, account_id, person_id, role)
    except ServiceError as exc:
        return done(request, to, str(exc), "error")
    return done(request, to, f"Person {person_id} now has the role {role}.")


routes = [
    page("/accounts/{account_id:int}/people/unknown", unknown_page),
    action("/accounts/{account_id:int}/people/{person_id:int}/role", set_role),
]
