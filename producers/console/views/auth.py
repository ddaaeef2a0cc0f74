"""Sign in and out."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from producers.console.security import csrf_valid, safe_path, start_session
from producers.console.web import action, core, field, page, render
from producers.services.users import SignInRefused, sign_in


def login_page(request: Request) -> Response:
    if request.query_params.get("expired"):
        request.session["flash"] = {"kind": "error", "text": "Your session ended: sign in again."}
    return render(
        request, "login.html", name="", error=None, next=safe_path(request.query_params.get("next"))
    )


async def login(request: Request) -> Response:
    """The sign-in form posts here. Not an `action`: there is no session user yet, but the
    form still carries the (anonymous) session's CSRF token."""
    form = await request.form()
    target = safe_path(field(form, "next") or None)
    if not csrf_valid(request, form):
        return render(
            request, "login.html", 403, name="", next=target, error="The form was stale: try again."
        )
    name, password = field(form, "name"), form.get("password")
    address = request.client.host if request.client else "unknown"
    try:
        user = await run_in_threadpool(
            sign_in, core(request), name, password if isinstance(password, str) else "", address
        )
    except SignInRefused as exc:
        return render(request, "login.html", 401, name=name, next=target, error=str(exc))
    start_session(request, user.id)
    return RedirectResponse(target, status_code=303)


def logout(request: Request, form: FormData) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


sign_in_route = Route("/login", login, methods=["POST"])
sign_in_route.is_action = True  # type: ignore[attr-defined]  # it checks the CSRF token itself

routes = [page("/login", login_page), sign_in_route, action("/logout", logout, admin=False)]
