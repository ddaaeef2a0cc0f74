"""A project's actuals: billable and non-billable hours per week, as a chart and a table."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from producers.console.chart import weekly_chart
from producers.console.web import core, page, render
from producers.services import accounts, views


def project_actuals_page(request: Request) -> Response:
    app = core(request)
    account = accounts.get_account(app, int(request.path_params["account_id"]))
    actuals = views.project_actuals(app, account.id, int(request.path_params["project_id"]))
    return render(
        request,
        "project_actuals.html",
        account=account,
        counts=views.counts(app, account.id),
        actuals=actuals,
        chart=weekly_chart(actuals.weeks),
    )


routes = [page("/accounts/{account_id:int}/projects/{project_id:int}/actuals", project_actuals_page)]
