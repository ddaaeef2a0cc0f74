"""Control API under /_sim: JSON over HTTP, no auth, never rate limited or faulted.

Tests and other processes use it to create accounts, edit ground truth, revoke tokens,
forbid paths, change settings, shift the clock, take /v2 down and read statistics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from simulator.hooks import mutation_action
from simulator.http_types import Request, Response, json_response
from simulator.schema import COLLECTIONS, StoreError
from simulator.state import SimulatorState
from simulator.store import AccountStore
from simulator.timeutil import format_ts

Handler = Callable[[SimulatorState, Request, tuple[str, ...]], Response]

ACCOUNT_KEYS = {
    "account_id",
    "token",
    "seed",
    "people",
    "projects",
    "clients",
    "days",
    "entries_per_day",
    "end_date",
}


def handle_control(state: SimulatorState, request: Request) -> Response:
    """Answer one /_sim request."""
    for method, pattern, handler in _ROUTES:
        match = pattern.match(request.path)
        if match and method == request.method:
            try:
                return handler(state, request, match.groups())
            except StoreError as exc:
                return _error(exc.status, exc.message)
            except (ValueError, TypeError) as exc:
                return _error(422, str(exc))
            except KeyError as exc:
                return _error(404, f"not found: {exc}")
    if any(pattern.match(request.path) for _, pattern, _ in _ROUTES):
        return _error(405, f"{request.method} is not supported on {request.path}")
    return _error(404, f"no control route {request.path}")


def _error(status: int, message: str) -> Response:
    return json_response(status, {"message": message})


def _body(request: Request) -> dict[str, Any]:
    try:
        payload = request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(400, f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise StoreError(400, "body must be a JSON object")
    return payload


def _account(state: SimulatorState, raw_id: str) -> AccountStore:
    try:
        return state.store(int(raw_id))
    except KeyError as exc:
        raise StoreError(404, f"account {raw_id} not found") from exc


def _collection(name: str) -> str:
    if name not in COLLECTIONS:
        raise StoreError(404, f"unknown collection {name!r}; use one of {', '.join(COLLECTIONS)}")
    return name


# ----- simulator-wide ------------------------------------------------------------------------
def _health(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    return json_response(200, {"ok": True, "accounts": len(state.account_ids())})


def _list_accounts(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    return json_response(200, state.account_ids())


def _create_account(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    body = _body(request)
    unknown = sorted(set(body) - ACCOUNT_KEYS)
    if unknown:
        raise StoreError(422, f"unknown key(s): {', '.join(unknown)}")
    if "account_id" not in body or "token" not in body:
        raise StoreError(422, "account_id and token are required")
    try:
        store = state.add_account(**body)
    except ValueError as exc:
        status = 409 if "already exists" in str(exc) else 422
        raise StoreError(status, str(exc)) from exc
    return json_response(201, {"account_id": store.account_id, "counts": store.counts()})


def _config(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    if request.method == "POST":
        return json_response(200, state.configure(**_body(request)))
    return json_response(200, state.config.as_dict())


def _stats(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    return json_response(200, state.stats.snapshot())


def _reset_stats(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    state.stats.reset()
    return json_response(200, state.stats.snapshot())


def _outage(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    if request.method == "POST":
        body = _body(request)
        unknown = sorted(set(body) - {"seconds", "mode"})
        if unknown:
            raise StoreError(400, f"unknown key(s): {', '.join(unknown)}; use seconds and mode")
        if "seconds" not in body:
            raise StoreError(400, "seconds is required")
        try:
            state.outage.start(body["seconds"], body.get("mode", "503"))
        except ValueError as exc:
            raise StoreError(400, str(exc)) from exc
    elif request.method == "DELETE":
        state.outage.end()
    return json_response(200, state.outage.status())


def _clock(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    if request.method == "POST":
        body = _body(request)
        if "offset_seconds" in body:
            state.clock.set_offset(_int(body["offset_seconds"], "offset_seconds"))
        if "advance_seconds" in body:
            state.clock.advance(_int(body["advance_seconds"], "advance_seconds"))
    now = state.clock.now()
    return json_response(
        200, {"now": format_ts(now), "epoch": now, "offset_seconds": state.clock.offset_seconds}
    )


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StoreError(422, f"{name} must be a number")
    return int(value)


# ----- one account ---------------------------------------------------------------------------
def _account_summary(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    store = _account(state, groups[0])
    if request.method == "DELETE":
        state.remove_account(store.account_id)
        return Response(204)
    return json_response(
        200,
        {
            "account_id": store.account_id,
            "counts": store.counts(),
            "forbidden": sorted(state.forbidden(store.account_id)),
            "owner_user_id": store.owner_user_id,
        },
    )


def _revoke(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    store = _account(state, groups[0])
    state.revoke(store.account_id)
    return json_response(200, {"account_id": store.account_id, "revoked": True})


def _set_token(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    store = _account(state, groups[0])
    state.set_token(store.account_id, _body(request).get("token"))  # type: ignore[arg-type]
    return json_response(200, {"account_id": store.account_id, "revoked": False})


def _forbid(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    store = _account(state, groups[0])
    paths = _body(request).get("paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise StoreError(422, "paths must be a list of strings")
    state.forbid(store.account_id, paths)
    return json_response(200, {"account_id": store.account_id, "forbidden": sorted(paths)})


def _hooks(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    """Mutations applied after page K of a /time_entries listing (simulator.hooks)."""
    store = _account(state, groups[0])
    if request.method == "DELETE":
        state.hooks.clear(store.account_id)
        return Response(204)
    if request.method == "GET":
        return json_response(200, [h.as_dict() for h in state.hooks.of(store.account_id)])
    body = _body(request)
    keys = {"after_page", "match", "mutations", "times", "include_counts", "between_pages"}
    unknown = sorted(set(body) - keys)
    if unknown:
        raise StoreError(422, f"unknown key(s): {', '.join(unknown)}")
    match = body.get("match") or {}
    if not isinstance(match, dict) or not all(isinstance(v, str | bool) for v in match.values()):
        raise StoreError(422, "match maps parameter names to a value, true (present) or false (absent)")
    hook = state.hooks.add(
        store.account_id,
        _int(body.get("after_page", 1), "after_page"),
        mutation_action(body.get("mutations")),  # type: ignore[arg-type]
        match=match,
        times=_int(body.get("times", 1), "times"),
        include_counts=body.get("include_counts") is True,
        between_pages=body.get("between_pages") is True,
        description=str(body.get("mutations"))[:200],
    )
    return json_response(201, hook.as_dict())


def _company(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    store = _account(state, groups[0])
    if request.method == "PATCH":
        return json_response(200, store.update_company(_body(request)))
    return json_response(200, dict(store.company))


def _records(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    store = _account(state, groups[0])
    collection = _collection(groups[1])
    if request.method == "POST":
        return json_response(201, store.create(collection, _body(request)))
    if request.params.get("format") == "ndjson":
        return Response(200, _ndjson(store, collection), "application/x-ndjson")
    return json_response(200, store.list(collection))


def _ndjson(store: AccountStore, collection: str) -> Iterator[bytes]:
    batch: list[bytes] = []
    for record in store.iter_rendered(collection):
        batch.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        if len(batch) >= 500:
            yield b"".join(batch)
            batch = []
    if batch:
        yield b"".join(batch)


def _record(state: SimulatorState, request: Request, groups: tuple[str, ...]) -> Response:
    store = _account(state, groups[0])
    collection = _collection(groups[1])
    record_id = int(groups[2])
    if request.method == "PATCH":
        return json_response(200, store.update(collection, record_id, _body(request)))
    if request.method == "DELETE":
        store.delete(collection, record_id)
        return Response(204)
    record = store.get(collection, record_id)
    if record is None:
        raise StoreError(404, f"{collection} id {record_id} not found")
    return json_response(200, record)


_A = r"^/_sim/accounts/(\d+)"
_ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (method, re.compile(pattern), handler)
    for methods, pattern, handler in (
        (("GET",), r"^/_sim/?$", _health),
        (("GET",), r"^/_sim/health/?$", _health),
        (("GET",), r"^/_sim/accounts/?$", _list_accounts),
        (("POST",), r"^/_sim/accounts/?$", _create_account),
        (("GET", "POST"), r"^/_sim/config/?$", _config),
        (("GET",), r"^/_sim/stats/?$", _stats),
        (("POST",), r"^/_sim/stats/reset/?$", _reset_stats),
        (("GET", "POST"), r"^/_sim/clock/?$", _clock),
        (("GET", "POST", "DELETE"), r"^/_sim/outage/?$", _outage),
        (("GET", "DELETE"), _A + r"/?$", _account_summary),
        (("POST",), _A + r"/revoke/?$", _revoke),
        (("POST",), _A + r"/token/?$", _set_token),
        (("POST",), _A + r"/forbid/?$", _forbid),
        (("GET", "PATCH"), _A + r"/company/?$", _company),
        (("GET", "POST", "DELETE"), _A + r"/hooks/?$", _hooks),
        (("GET", "POST"), _A + r"/([a-z_]+)/?$", _records),
        (("GET", "PATCH", "DELETE"), _A + r"/([a-z_]+)/(\d+)/?$", _record),
    )
    for method in methods
)
