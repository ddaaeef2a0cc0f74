"""Harvest API v2 routes (GET only): checks, envelopes, faults and statistics.

Order of checks per request: outage (503 or a reset, before anything else: the proxy in
front of Harvest answers it) -> route -> method -> User-Agent (400) -> token and account (401)
-> forbidden path (403) -> rate limit (429) -> injected fault -> the route itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from simulator.config import SimConfig
from simulator.defaults import ADMIN_CLAIMS, default_record
from simulator.http_types import (
    Request,
    Response,
    connection_reset,
    dump_json,
    html_page,
    html_response,
    json_response,
)
from simulator.limits import Fault
from simulator.outage import unavailable
from simulator.pagination import LinkBuilder, build_envelope, parse_page_request, select_window
from simulator.query import parse_filters, run_query
from simulator.render_fast import time_entries_json
from simulator.reports import REPORTS, report_page
from simulator.schema import StoreError
from simulator.state import SimulatorState
from simulator.store import AccountStore

CURSOR_COLLECTIONS = (
    "clients",
    "projects",
    "users",
    "roles",
    "tasks",
    "user_assignments",
    "task_assignments",
)
LIST_COLLECTIONS = (*CURSOR_COLLECTIONS, "time_entries")

INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": (
        "The access token provided is expired, revoked, malformed or invalid for other reasons."
    ),
}
WWW_AUTHENTICATE = (
    'Bearer realm="Rack::OAuth2 Protected Resources", error="invalid_token", '
    'error_description="The access token provided is expired, revoked, malformed or invalid '
    'for other reasons."'
)
NOT_FOUND_JSON = {"status": 404, "error": "Not Found"}

Handler = Callable[[SimulatorState, AccountStore, Request, tuple[str, ...]], Response]


@dataclass(frozen=True)
class Route:
    """A matched route: its path template (for stats and 403 rules) and handler."""

    template: str
    handler: Handler
    groups: tuple[str, ...]


def handle_v2(state: SimulatorState, request: Request) -> Response:
    """Answer one request under /v2 and count it in the statistics."""
    route = match_route(request.path)
    down = state.outage.mode()
    if down is not None:
        return _outage_answer(state, down, route)
    account_id: int | None = None
    injected = False
    if route is None:
        response = html_response(
            404, html_page("Can't find page", "The page you were looking for doesn't exist.")
        )
        template = "<unmatched>"
    else:
        template = route.template
        response, account_id, injected = _serve(state, request, route)
    state.stats.record(response.status, template, account_id, injected)
    return response


def _outage_answer(state: SimulatorState, mode: str, route: Route | None) -> Response:
    # Checked before the rate limiter: Harvest never sees these requests, so they cannot
    # use up the client's window.
    if mode == "refuse":
        state.stats.record_outage_reset()
        return connection_reset()
    template = route.template if route is not None else "<unmatched>"
    state.stats.record(503, template, None, injected=False, outage=True)
    return unavailable()


def match_route(path: str) -> Route | None:
    """The route for a /v2 path, or None."""
    for pattern, template, handler in _ROUTES:
        match = pattern.match(path)
        if match:
            groups = match.groups()
            return Route(template.format(*groups), handler, groups)
    return None


def _serve(state: SimulatorState, request: Request, route: Route) -> tuple[Response, int | None, bool]:
    if request.method != "GET":
        return json_response(405, {"message": "The simulator's v2 API is read-only; use /_sim."}), None, False
    if not (request.header("User-Agent") or "").strip():
        body = {"error": "bad_request", "error_description": "A User-Agent header is required."}
        return json_response(400, body), None, False
    token = _bearer(request.header("Authorization")) or request.params.get("access_token")
    account_raw = request.header("Harvest-Account-Id") or request.params.get("account_id")
    store = state.authenticate(token, account_raw)
    if store is None or token is None:
        return json_response(401, INVALID_TOKEN, [("WWW-Authenticate", WWW_AUTHENTICATE)]), None, False
    account_id = store.account_id
    forbidden = state.forbidden(account_id)
    if route.template in forbidden or request.path.rstrip("/") in forbidden:
        body = {"error": "forbidden", "error_description": "You do not have access to this resource."}
        return json_response(403, body), account_id, False
    config = state.config
    if config.rate_limit_enabled:
        # /reports/* has a limit of its own, much tighter: 100 requests per 15 minutes.
        if route.template.startswith("/v2/reports/"):
            limiter, limit, window_s = (
                state.reports_limiter,
                config.reports_rate_limit_requests,
                config.reports_rate_limit_window_s,
            )
        else:
            limiter, limit, window_s = state.limiter, config.rate_limit_requests, config.rate_limit_window_s
        retry_after = limiter.admit(token, limit, window_s)
        if retry_after is not None:
            return too_many_requests(announced_retry_after(config, retry_after)), account_id, False
    fault = state.faults.pick(config)
    if fault is not None:
        if fault.kind in ("error", "rate_limit"):
            return _fault_response(fault, config), account_id, True
        state.sleep(fault.delay_s)
    try:
        return route.handler(state, store, request, route.groups), account_id, fault is not None
    except StoreError as exc:
        if exc.status == 404:
            return json_response(404, NOT_FOUND_JSON), account_id, fault is not None
        return json_response(exc.status, {"message": exc.message}), account_id, fault is not None


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def announced_retry_after(config: SimConfig, actual_s: int) -> int | None:
    """The Retry-After a 429 states: the real wait unless ``retry_after_s`` overrides it
    (a fixed number, or -1 for no header at all)."""
    if config.retry_after_s is None:
        return actual_s
    return None if config.retry_after_s < 0 else config.retry_after_s


def too_many_requests(retry_after: int | None) -> Response:
    """Harvest's throttling answer: 429, Retry-After in seconds (None: no header), HTML."""
    page = html_page("Too Many Requests", "You have exceeded your API rate limit. Please slow down.")
    headers = [] if retry_after is None else [("Retry-After", str(retry_after))]
    return html_response(429, page, headers)


def _fault_response(fault: Fault, config: SimConfig) -> Response:
    if fault.kind == "rate_limit":
        return too_many_requests(announced_retry_after(config, 1))
    titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    if fault.html:
        return html_response(fault.status, html_page(titles[fault.status], "Please try again later."))
    return json_response(fault.status, {"status": fault.status, "error": titles[fault.status]})


# ----- route handlers ----------------------------------------------------------------------
def _list(
    state: SimulatorState,
    store: AccountStore,
    request: Request,
    collection: str,
    scope_project_id: int | None = None,
) -> Response:
    cursor_enabled = collection in CURSOR_COLLECTIONS and scope_project_id is None
    paging = parse_page_request(request.params, cursor_enabled)
    filters = parse_filters(collection, request.params)
    result = run_query(store, collection, filters, state.config.updated_since_inclusive, scope_project_id)
    links = LinkBuilder(request)
    with store.lock:
        window = select_window(store, collection, result, paging)
        page_items = result.items[window.start : window.end]
        if collection != "time_entries":
            rendered = store.render(collection, page_items)
            return json_response(
                200, build_envelope(collection, rendered, result, window, paging, links, cursor_enabled)
            )
        # Big pages: serialise entries with the fast path and splice them into the envelope,
        # which is dumped with an empty list.
        items_json = time_entries_json(store, page_items, store.now(), store.live_timers)
        envelope = build_envelope(collection, [], result, window, paging, links, cursor_enabled)
        tail = dump_json(envelope)[len(b'{"time_entries":[]') :]
    # The page is computed: users may now change what the next one will hold.
    has_next = window.end < len(result.items)
    for hook in state.hooks.due(store.account_id, paging.page or 1, has_next, request.params):
        hook.action(store)
    return Response(200, b"".join((b'{"time_entries":', items_json.encode(), tail)))


def _handle_report(
    state: SimulatorState, store: AccountStore, request: Request, groups: tuple[str, ...]
) -> Response:
    return json_response(200, report_page(store, groups[0], request))


def _handle_list(
    state: SimulatorState, store: AccountStore, request: Request, groups: tuple[str, ...]
) -> Response:
    return _list(state, store, request, groups[0])


def _handle_project_list(
    state: SimulatorState, store: AccountStore, request: Request, groups: tuple[str, ...]
) -> Response:
    project_id = int(groups[0])
    if project_id not in store.tables["projects"]:
        raise StoreError(404, "Not Found")
    return _list(state, store, request, groups[1], scope_project_id=project_id)


def _handle_one(
    state: SimulatorState, store: AccountStore, request: Request, groups: tuple[str, ...]
) -> Response:
    collection, raw_id = groups
    record = store.get(collection, int(raw_id)) if raw_id.isdigit() else None
    if record is None:
        raise StoreError(404, "Not Found")
    return json_response(200, record)


def _handle_me(
    state: SimulatorState, store: AccountStore, request: Request, groups: tuple[str, ...]
) -> Response:
    owner = store.get("users", store.owner_user_id) if store.owner_user_id else None
    if owner is None:
        # An account generated with no people still has the person who owns the token.
        owner = store.render("users", [_placeholder_owner(store)])[0]
    return json_response(200, owner)


def _placeholder_owner(store: AccountStore) -> dict[str, object]:
    owner = default_record("users", store.next_id("users"))
    owner.update(
        first_name="Account",
        last_name="Owner",
        access_roles=["administrator"],
        permissions_claims=sorted(ADMIN_CLAIMS),
        can_create_projects=True,
    )
    return owner


def _handle_company(
    state: SimulatorState, store: AccountStore, request: Request, groups: tuple[str, ...]
) -> Response:
    with store.lock:
        return json_response(200, dict(store.company))


_COLLECTION_RE = "|".join(LIST_COLLECTIONS)
_ROUTES: tuple[tuple[re.Pattern[str], str, Handler], ...] = (
    (re.compile(rf"^/v2/reports/time/({'|'.join(REPORTS)})/?$"), "/v2/reports/time/{0}", _handle_report),
    (re.compile(r"^/v2/users/me/?$"), "/v2/users/me", _handle_me),
    (re.compile(r"^/v2/company/?$"), "/v2/company", _handle_company),
    (
        re.compile(r"^/v2/projects/(\d+)/(user_assignments|task_assignments)/?$"),
        "/v2/projects/{{id}}/{1}",
        _handle_project_list,
    ),
    (re.compile(rf"^/v2/({_COLLECTION_RE})/?$"), "/v2/{0}", _handle_list),
    (re.compile(rf"^/v2/({_COLLECTION_RE})/([^/]+)/?$"), "/v2/{0}/{{id}}", _handle_one),
)
