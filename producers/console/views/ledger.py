"""The ledger: what was not imported, by reason, each with its fix."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from producers.console.web import core, page, render
from producers.services import accounts, views


def ledger_page(request: Request) -> Response:
    app = core(request)
    account = accounts.get_account(app, int(request.path_params["account_id"]))
    totals, groups = views.ledger(app, account.id)
    return render(
        request,
        "ledger.html",
        account=account,
        counts=views.counts(app, account.id),
        totals=totals,
        groups=groups,
        fixes=views.HELD_FIXES,
    )


routes = [page("/accounts/{account_id:int}/ledger", ledger_page)]
