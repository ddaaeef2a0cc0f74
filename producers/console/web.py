"""Routes as pages and actions, and rendering.

A page is a GET that changes nothing and any signed-in user may see. An action is a POST:
its form (or htmx's X-CSRF-Token header) must carry the session's CSRF token, and unless it
says otherwise only an admin may run it; it answers with a redirect (post/redirect/get) and
a one-line flash, or the form again with what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from infra.app import App
from producers.console.security import csrf_token, csrf_valid, safe_path
from producers.services.dead_letters import Broker

TEMPLATES = Path(__file__).with_name("templates")
Action = Callable[[Request, FormData], Response]
TIMEZONES = sorted(available_timezones())

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value from Harvest (names, roles) is untrusted text
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def core(request: Request) -> App:
    return request.app.state.core


def broker(request: Request) -> Broker:
    s = core(request).settings
    return Broker(s.amqp_url, s.amqp_prefix)


def page(path: str, endpoint: Callable[..., Response], name: str | None = None) -> Route:
    """A GET any signed-in user may see (a plain function: it runs in the thread pool)."""
    return Route(path, endpoint, methods=["GET"], name=name)


def action(path: str, endpoint: Action, *, admin: bool = True) -> Route:
    """A POST: CSRF checked first, then the role; the endpoint gets the form."""

    async def checked(request: Request) -> Response:
        form = await request.form()
        if not csrf_valid(request, form):
            return refusal(
                request, 403, "This form is stale or not from this console: reload the page and try again."
            )
        user = getattr(request.state, "user", None)
        if admin and not (user and user.is_admin):
            return refusal(request, 403, "Viewers see everything and change nothing.")
        return await run_in_threadpool(endpoint, request, form)

    route = Route(path, checked, methods=["POST"])
    route.is_action = True  # type: ignore[attr-defined]  # tests check every POST route is one
    return route


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    body = _env.get_template(template).render(
        request=request,
        user=user,
        can_change=bool(user and user.is_admin),
        csrf_token=csrf_token(request),
        flash=request.session.pop("flash", None),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status_code)


def refusal(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "refused.html", status_code=status_code, message=message)


def done(request: Request, to: str, message: str, kind: str = "ok") -> RedirectResponse:
    """Back to a page of this console with a one-line flash."""
    request.session["flash"] = {"kind": kind, "text": message}
    return RedirectResponse(safe_path(to), status_code=303)


def back(request: Request, form: FormData, default: str) -> str:
    """Where an action returns to: the form's `back` path, if it is one of ours."""
    value = form.get("back")
    return safe_path(value if isinstance(value, str) else None, default)


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# -- formatting, for the templates -----------------------------------------------------------


def when(value: datetime | None, never: str = "never") -> str:
    if value is None:
        return never
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def hours(minutes: int | float | None) -> str:
    if not minutes:
        return "0"
    return f"{minutes / 60:,.2f}".rstrip("0").rstrip(".")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


KIND_LABELS = {
    "clients_projects": "Clients & projects",
    "people": "People",
    "actuals": "Actuals",
    "autofill": "Autofill",
    "clients_projects+people": "Clients, projects & people",
}

_env.globals.update(
    when=when,
    hours=hours,
    duration=duration,
    kind_label=lambda kind: KIND_LABELS.get(kind, kind),
    timezones=TIMEZONES,
)
