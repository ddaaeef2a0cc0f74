"""Sessions, CSRF and the headers every response carries.

A session is Starlette's signed cookie (itsdangerous): HttpOnly, SameSite=Lax, Secure behind
HTTPS, holding the user id, the CSRF token and when the user signed in; it ends
`session_hours` after sign-in, whatever the activity. The user is read from the database on
every request, so a removed user or a changed role takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.app import App
from producers.services.users import get_user

SESSION_COOKIE = "harvest_sync_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PUBLIC_PATHS = ("/login", "/healthz")
PUBLIC_PREFIXES = ("/static/",)

# No inline script or style anywhere: htmx and the console's own script come from /static.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def session_secret(secret_keys: tuple[str, ...]) -> str:
    """The cookie-signing key, derived from the newest HARVEST_SYNC_SECRET_KEY: every console
    replica signs alike, and no key of its own needs keeping. A rotation signs everyone out."""
    return hmac.new(secret_keys[0].encode(), b"harvest-sync console sessions", hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the sign-in form has one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_valid(request: Request, form: Mapping[str, Any]) -> bool:
    expected = request.session.get("csrf")
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected, given)


def start_session(request: Request, user_id: int) -> None:
    """A fresh session for the user: a new CSRF token, the sign-in time."""
    request.session.clear()
    request.session.update(uid=user_id, since=int(time.time()), csrf=secrets.token_urlsafe(32))


def safe_path(target: str | None, default: str = "/accounts") -> str:
    """A path on this console to go back to; anything else (another site) becomes `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class SecurityHeaders:
    """Adds the CSP and friends to every HTTP response; pages are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(PUBLIC_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequireSignIn:
    """Every path but the sign-in page, /healthz and /static needs a live session; the user
    is put in request.state.user."""

    def __init__(self, app: ASGIApp, *, core: App, session_hours: int) -> None:
        self.app = app
        self.core = core
        self.max_age_s = session_hours * 3600

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        session = scope["session"]
        user = None
        if isinstance(session.get("uid"), int) and time.time() - session.get("since", 0) < self.max_age_s:
            user = await run_in_threadpool(get_user, self.core, session["uid"])
        if user is None:
            session.pop("uid", None)
            await _sign_in_first(Request(scope), path)(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def _sign_in_first(request: Request, path: str) -> Response:
    if request.method in ("GET", "HEAD") and "hx-request" not in request.headers:
        query = f"?next={quote(path)}" if path not in ("/", "/accounts") else ""
        return RedirectResponse(f"/login{query}", status_code=303)
    # htmx follows HX-Redirect; anything else just gets the refusal.
    return PlainTextResponse("Sign in first.", status_code=401, headers={"HX-Redirect": "/login"})
