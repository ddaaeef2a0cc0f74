"""Accounts: the list with each kind's state and live progress, connecting one, replacing a
token, and an account's settings with "Save and run" and the imports."""

from __future__ import annotations

from datetime import UTC, date, datetime

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from producers.console.web import action, core, done, field, page, render
from producers.services import accounts, syncs, views
from producers.services.errors import InvalidInput, ServiceError
from producers.services.status import account_status

IMPORTS = {
    "clients-projects": "Import of clients and projects",
    "people": "Import of people",
    "actuals": "Actuals sync",
}
SETTING_FLAGS = ("clients_projects", "people", "actuals", "autofill")


def _account_id(request: Request) -> int:
    return int(request.path_params["account_id"])


def account_list(request: Request) -> Response:
    app = core(request)
    now = datetime.now(UTC)
    with app.uow() as u:
        statuses = [account_status(u, a, now) for a in u.accounts.all()]
    return render(request, "accounts.html", statuses=statuses)


def runs_fragment(request: Request) -> Response:
    """The live part of an account: its runs in progress, polled by htmx. When the runs it
    was showing have ended, the page reloads to show the new last-sync dates."""
    app = core(request)
    account = accounts.get_account(app, _account_id(request))
    with app.uow() as u:
        status = account_status(u, account, datetime.now(UTC))
    response = render(request, "_runs.html", status=status)
    if request.query_params.get("was_active") == "1" and not status.active_runs:
        response.headers["HX-Refresh"] = "true"
    return response


def connect_page(request: Request) -> Response:
    return render(request, "account_new.html", values={"timezone": "UTC"}, errors={}, error=None)


def connect(request: Request, form: FormData) -> Response:
    values = {k: field(form, k) for k in ("name", "harvest_account_id", "timezone")}
    try:
        harvest_id = _harvest_account_id(values["harvest_account_id"])
        account_id, access = accounts.connect_account(
            core(request),
            name=values["name"],
            harvest_account_id=harvest_id,
            token=field(form, "token"),
            timezone=values["timezone"] or "UTC",
        )
    except InvalidInput as exc:
        # The token is never sent back: the person pastes it again.
        return render(
            request, "account_new.html", 400, values=values, errors={exc.field: str(exc)}, error=None
        )
    except ServiceError as exc:
        return render(request, "account_new.html", 400, values=values, errors={}, error=str(exc))
    return done(
        request,
        f"/accounts/{account_id}",
        f"Connected to {access.company} as {access.user}. Choose what to import, then Save and run.",
    )


def _harvest_account_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput("harvest_account_id", "the Harvest account id is a number, e.g. 1234567")
    return int(text)


def token_page(request: Request) -> Response:
    account = accounts.get_account(core(request), _account_id(request))
    return render(request, "account_token.html", account=account, error=None)


def replace_token(request: Request, form: FormData) -> Response:
    app = core(request)
    account = accounts.get_account(app, _account_id(request))
    try:
        accounts.replace_token(app, account, field(form, "token"), check=True)
    except ServiceError as exc:
        return render(request, "account_token.html", 400, account=account, error=str(exc))
    return done(
        request,
        f"/accounts/{account.id}",
        "Token replaced; the account is active again. Replay its dead letters if any runs failed.",
    )


def settings_page(request: Request) -> Response:
    app = core(request)
    account = accounts.get_account(app, _account_id(request))
    with app.uow() as u:
        status = account_status(u, account, datetime.now(UTC))
    return render(
        request,
        "account.html",
        account=account,
        status=status,
        counts=views.counts(app, account.id),
        errors={},
        imports=IMPORTS,
    )


def save_settings(request: Request, form: FormData) -> Response:
    app = core(request)
    account = accounts.get_account(app, _account_id(request))
    try:
        values = accounts.settings_values(
            flags={kind: form.get(kind) == "on" for kind in SETTING_FLAGS},
            timezone=field(form, "timezone"),
            working_days=[int(d) for d in form.getlist("working_days") if str(d).isdigit()],
            start_date=_date(field(form, "start_date")),
            clear_start_date=not field(form, "start_date"),
        )
        account = accounts.update_settings(app, account.id, values)
    except InvalidInput as exc:
        with app.uow() as u:
            status = account_status(u, account, datetime.now(UTC))
        return render(
            request,
            "account.html",
            400,
            account=account,
            status=status,
            counts=views.counts(app, account.id),
            errors={exc.field: str(exc)},
            imports=IMPORTS,
        )
    if form.get("run") is None:
        return done(request, f"/accounts/{account.id}", "Settings saved.")
    commands = syncs.enabled_commands(account)
    if not commands:
        return done(request, f"/accounts/{account.id}", "Settings saved; no import is on, so nothing runs.")
    try:
        syncs.queue_in_order(app, commands)
    except ServiceError as exc:
        return done(request, f"/accounts/{account.id}", f"Settings saved, but {exc}", "error")
    response = done(request, "/accounts", "Settings saved; the imports are running.")
    response.background = BackgroundTask(syncs.continue_in_order, app, commands)
    return response


def _date(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("start_date", "a date looks like 2026-01-31") from None


def start_import(request: Request, form: FormData) -> Response:
    """ "Import from Harvest" (each list page), an actuals sync, or a full reconcile."""
    app = core(request)
    account = accounts.get_account(app, _account_id(request))
    what = field(form, "what")
    if what not in IMPORTS:
        return done(request, f"/accounts/{account.id}", f"Nothing to import called {what!r}.", "error")
    full = what == "actuals" and form.get("full") == "1"
    try:
        syncs.publish_all(app, syncs.sync_commands(account, what, full=full))
    except ServiceError as exc:
        return done(request, _back(form, account.id), str(exc), "error")
    label = "Full actuals reconcile" if full else IMPORTS[what]
    return done(request, _back(form, account.id), f"{label} started.")


def _back(form: FormData, account_id: int) -> str:
    target = field(form, "back")
    return target if target.startswith(f"/accounts/{account_id}") else f"/accounts/{account_id}"


routes = [
    page("/accounts", account_list),
    page("/accounts/new", connect_page),
    action("/accounts/new", connect),
    page("/accounts/{account_id:int}", settings_page),
    action("/accounts/{account_id:int}/settings", save_settings),
    action("/accounts/{account_id:int}/import", start_import),
    page("/accounts/{account_id:int}/runs", runs_fragment),
    page("/accounts/{account_id:int}/token", token_page),
    action("/accounts/{account_id:int}/token", replace_token),
]
