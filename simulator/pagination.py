"""Harvest's list envelope with page-based and cursor-based pagination (reference §2).

Links are absolute, built from the request's Host header, and carry the request's other
query parameters sorted by name, as Rails' ``to_query`` does in the recorded responses
(``?page=2&per_page=1&project_id=3073688&ref=next``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from simulator.http_types import Request
from simulator.query import QueryResult
from simulator.schema import StoreError
from simulator.store import AccountStore

MAX_PER_PAGE = 2000
_PAGING_PARAMS = frozenset({"page", "cursor", "per_page", "ref"})


@dataclass(frozen=True)
class PageRequest:
    """Paging parameters of one list request."""

    per_page: int
    page: int | None
    cursor: tuple[str, int] | None


@dataclass(frozen=True)
class Window:
    """The slice of a result served by one request."""

    start: int
    end: int
    by_cursor: bool


def encode_cursor(direction: str, record_id: int) -> str:
    """URL-safe base64 of ``{"after":{"id":N}}`` (or before) without padding."""
    raw = json.dumps({direction: {"id": record_id}}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """Inverse of encode_cursor; raises ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not base64 JSON") from exc
    if not isinstance(payload, dict) or len(payload) != 1:
        raise ValueError("cursor must hold one direction")
    ((direction, target),) = payload.items()
    if direction not in ("after", "before") or not isinstance(target, dict):
        raise ValueError("cursor direction must be after or before")
    record_id = target.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, int):
        raise ValueError("cursor id must be an integer")
    return direction, record_id


def parse_page_request(params: Mapping[str, str], cursor_enabled: bool) -> PageRequest:
    """Read per_page (1..2000, default 2000), page and cursor; bad values answer 422."""
    raw_per_page = params.get("per_page", "")
    per_page = MAX_PER_PAGE
    if raw_per_page != "":
        try:
            per_page = int(raw_per_page)
        except ValueError:
            per_page = 0
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise StoreError(422, f"per_page must be between 1 and {MAX_PER_PAGE}")
    page = None
    raw_page = params.get("page", "")
    if raw_page != "":
        try:
            page = int(raw_page)
        except ValueError:
            page = 0
        if page < 1:
            raise StoreError(422, "page must be a positive integer")
    cursor = None
    raw_cursor = params.get("cursor", "")
    if cursor_enabled and raw_cursor != "":
        try:
            cursor = decode_cursor(raw_cursor)
        except ValueError as exc:
            raise StoreError(422, f"cursor is invalid: {exc}") from exc
    return PageRequest(per_page, page, cursor)


class LinkBuilder:
    """Absolute list URLs that keep the request's non-paging parameters."""

    def __init__(self, request: Request) -> None:
        self.base = f"{request.scheme}://{request.host}{request.path}"
        self.kept = {k: v for k, v in request.params.items() if k not in _PAGING_PARAMS}

    def url(self, **paging: Any) -> str:
        """URL with the kept parameters plus ``paging`` ones, sorted by name."""
        merged = {**self.kept, **{k: str(v) for k, v in paging.items()}}
        return f"{self.base}?{urlencode(sorted(merged.items()))}"


def select_window(store: AccountStore, collection: str, result: QueryResult, request: PageRequest) -> Window:
    """Pick the slice to serve; a cursor wins over page when both are given."""
    total = len(result.items)
    if request.cursor is None:
        start = ((request.page or 1) - 1) * request.per_page
        return Window(min(start, total), min(start + request.per_page, total), by_cursor=False)
    direction, record_id = request.cursor
    sort_key = _sort_key(store, collection, record_id)
    if direction == "after":
        start = result.index_after(sort_key)
        return Window(start, min(start + request.per_page, total), by_cursor=True)
    end = result.index_of(sort_key)
    return Window(max(0, end - request.per_page), end, by_cursor=True)


def _sort_key(store: AccountStore, collection: str, record_id: int) -> tuple[int, int]:
    record = store.tables[collection].get(record_id)
    if record is not None:
        return record["created_at"], record_id
    tombstone = store.tombstones[collection].get(record_id)
    if tombstone is not None:
        return tombstone
    raise StoreError(422, "cursor is invalid: unknown record")


def build_envelope(
    key: str,
    rendered: list[dict[str, Any]],
    result: QueryResult,
    window: Window,
    request: PageRequest,
    links: LinkBuilder,
    cursor_enabled: bool,
) -> dict[str, Any]:
    """The list envelope: collection, counts, page numbers and links (reference §2.1)."""
    total = len(result.items)
    per_page = request.per_page
    total_pages = max(1, -(-total // per_page))
    if cursor_enabled:
        page, next_page, previous_page, nav = _cursor_navigation(
            result, window, total_pages, links, per_page, request
        )
    else:
        page = request.page or 1
        next_page = page + 1 if page < total_pages else None
        previous_page = page - 1 if page > 1 else None
        nav = (
            links.url(page=next_page, per_page=per_page, ref="next") if next_page else None,
            links.url(page=previous_page, per_page=per_page, ref="previous") if previous_page else None,
        )
    return {
        key: rendered,
        "per_page": per_page,
        "total_pages": total_pages,
        "total_entries": total,
        "next_page": next_page,
        "previous_page": previous_page,
        "page": page,
        "links": {
            "first": links.url(page=1, per_page=per_page, ref="first"),
            "next": nav[0],
            "previous": nav[1],
            "last": links.url(page=total_pages, per_page=per_page, ref="last"),
        },
    }


def _cursor_navigation(
    result: QueryResult,
    window: Window,
    total_pages: int,
    links: LinkBuilder,
    per_page: int,
    request: PageRequest,
) -> tuple[int | None, int | None, int | None, tuple[str | None, str | None]]:
    """Page numbers and cursor links. Per the newest docs, page/next_page/previous_page are
    null on every cursor page except the first and the last; a deprecated ``page=N``
    request keeps its numbers so old page-number loops still work."""
    total = len(result.items)
    is_first = window.start == 0
    is_last = window.end >= total
    next_link = previous_link = None
    if not is_last and window.end > window.start:
        last_id = result.items[window.end - 1]["id"]
        next_link = links.url(cursor=encode_cursor("after", last_id), per_page=per_page, ref="next_cursor")
    if not is_first and window.start < total:
        first_id = result.items[window.start]["id"]
        previous_link = links.url(
            cursor=encode_cursor("before", first_id), per_page=per_page, ref="previous_cursor"
        )
    if not window.by_cursor:
        page = request.page or 1
        next_page = page + 1 if page < total_pages else None
        return page, next_page, (page - 1 if page > 1 else None), (next_link, previous_link)
    if is_first:
        return 1, (2 if total_pages > 1 else None), None, (next_link, previous_link)
    if is_last:
        previous = total_pages - 1 if total_pages > 1 else None
        return total_pages, None, previous, (next_link, previous_link)
    return None, None, None, (next_link, previous_link)
