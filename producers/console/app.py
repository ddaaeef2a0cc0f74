"""The console application: routes, middleware, and the server `harvest-sync console` runs."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from infra.app import App
from infra.config import ConsoleSettings
from producers.console.security import SESSION_COOKIE, RequireSignIn, SecurityHeaders, session_secret
from producers.console.views import accounts, actuals, auth, dead_letters, ledger, lists, people
from producers.console.web import refusal
from producers.services.errors import NotFound, ServiceError

STATIC = Path(__file__).with_name("static")


def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"}, headers={"Cache-Control": "no-store"})


def home(request: Request) -> Response:
    return RedirectResponse("/accounts", status_code=303)


async def not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code != 404:
        return refusal(request, exc.status_code, str(exc.detail))
    return refusal(request, 404, str(exc) if isinstance(exc, NotFound) else "There is no such page.")


async def refused(request: Request, exc: Exception) -> Response:
    return refusal(request, 400, str(exc))


def create_app(core: App, settings: ConsoleSettings) -> Starlette:
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/", home, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *auth.routes,
        *accounts.routes,
        *lists.routes,
        *people.routes,
        *ledger.routes,
        *actuals.routes,
        *dead_letters.routes,
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=session_secret(core.settings.secret_keys),
            session_cookie=SESSION_COOKIE,
            max_age=settings.session_hours * 3600,
            same_site="lax",
            https_only=settings.secure_cookies,
        ),
        Middleware(RequireSignIn, core=core, session_hours=settings.session_hours),
    ]
    web = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: not_found, NotFound: not_found, ServiceError: refused},
    )
    web.state.core = core
    return web


def serve(core: App, settings: ConsoleSettings, *, host: str, port: int) -> None:
    """Serve until SIGTERM or Ctrl-C (uvicorn stops gracefully on both)."""
    import uvicorn

    uvicorn.run(
        create_app(core, settings),
        host=host,
        port=port,
        log_level=core.settings.log_level,
        access_log=False,
        proxy_headers=True,  # the client address behind a proxy on the same host
        server_header=False,
    )
