"""Harvest API v2 client: headers, pagination by `links.next`, retries and rate-limit waits
(within a patience budget, infra/harvest/patience.py).

It yields page by page and never holds a whole data set. The token lives only in the
client's request headers (never in a session several clients share); it never appears in a
message, a log line or an exception, and it only goes to `base_url`: a `links.next` that
points anywhere else is refused.

Requests are prepared here and handed to the session's mounted adapter (see _send): requests'
Session machinery (URL parsing, IDNA, requoting, cookies, hooks, redirects) was about a
quarter of the client's CPU per request, and a daily sync makes thousands of small ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import SplitResult, urlencode, urlsplit

import orjson
import requests
import structlog
from requests.utils import DEFAULT_ACCEPT_ENCODING, requote_uri

from infra.harvest.errors import (
    HarvestAuthError,
    HarvestRequestError,
    HarvestTokenUnusable,
    HarvestUnavailable,
)
from infra.harvest.patience import DEFAULT_PATIENCE_S, REASONS, Patience, Wait

log = structlog.get_logger(__name__)

MAX_PER_PAGE = 2000
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
REPORTS_PREFIX = "/reports/"
DEFAULT_PORTS = {"https": 443, "http": 80}
SHOWN_HOST_CHARS = 60


class ListedPage(NamedTuple):
    """One page of a list, with what the envelope and the response say about the listing."""

    records: list[dict]
    number: int  # 1 for the first page of this listing, then 2, 3, ...
    # Harvest's count of the whole listing when it served this page: a change between two
    # pages means the set shifted under the listing (page numbers then skip or repeat rows).
    total_entries: int | None
    # Harvest's clock (its Date header) when it served the page; None if it sent none.
    served_at: datetime | None
    last: bool = False  # no page follows it (links.next was null)


class _Reply(NamedTuple):
    doc: dict
    served_at: datetime | None


@runtime_checkable
class LearningThrottle(Protocol):
    """A throttle that also hears of Harvest's 429s (SharedRateLimit lowers its rate on them)."""

    def __call__(self) -> None: ...

    def refused(self) -> object: ...


Throttle = Callable[[], None] | LearningThrottle
# A 200's body -> its JSON document.
Decode = Callable[[bytes], Any]


class HarvestClient:
    """One account's Harvest API, for one message (or one interactive check).

    Waits on Harvest (429s, 5xx, timeouts, refused connections) draw on `patience`, a budget of
    seconds: the request is given up with HarvestUnavailable once it is spent, or after
    `max_attempts` attempts if one is set. `on_wait(reason, seconds)` hears of each of those
    waits before it starts, reason "rate_limited" or "unavailable"; `on_wait_source(source,
    seconds)` hears the finer source for metrics (retry_after, backoff, unavailable).

    Each request is a PreparedRequest built here and sent through the session's adapter for
    its URL, so the session's cookie jar is never read or filled (nothing sends a cookie; the
    adapter parses a response's Set-Cookie only into that response's own jar, dropped with
    it), its hooks and headers are not applied, and redirects are not followed: Harvest's
    API does not redirect, and a 3xx is an error like any other unexpected status. What
    requests would take from the environment on each request (proxies, CA bundle) is taken
    once per client from the session (for shared_session(): what it read when it was made).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        harvest_account_id: int,
        user_agent: str,
        timeout_s: float = 30.0,
        patience: Patience | None = None,
        patience_s: float = DEFAULT_PATIENCE_S,
        max_attempts: int | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        throttle: Throttle | None = None,
        reports_throttle: Throttle | None = None,
        per_page: int = MAX_PER_PAGE,
        on_response: Callable[[int, str], None] | None = None,
        on_wait: Callable[[str, float], None] | None = None,
        on_wait_source: Callable[[str, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        if not token or not token.isprintable() or token != token.strip():
            # requests would refuse the header and quote it, token included, in its error.
            raise HarvestTokenUnusable(
                "the stored Harvest token has blanks or control characters; set it again"
            )
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (None: as many as patience allows)")
        self.base_url = base_url.rstrip("/")
        # A session may be shared by every client of the process (shared_session): the token
        # and account go with each request, never into the session.
        self._owns_session = session is None
        self._session = session or requests.Session()
        # The whole header set of every request (the session's own headers are not merged in):
        # Accept-Encoding as requests sends it, so Harvest still compresses large pages.
        headers = {
            "Authorization": f"Bearer {token}",
            "Harvest-Account-Id": str(harvest_account_id),
            "User-Agent": user_agent,
            "Accept": "application/json",
            "Accept-Encoding": DEFAULT_ACCEPT_ENCODING,
        }
        # Checked and case-folded once, as requests' prepare_headers does for every request.
        checked = requests.PreparedRequest()
        checked.prepare_headers(headers)
        self._headers = checked.headers
        self._timeout_s = timeout_s
        self._base = urlsplit(self.base_url)
        # Taken as Session.request would take them for base_url, once: every URL this client
        # sends to has base_url's scheme, host and port (next links are checked).
        settings = self._session.merge_environment_settings(self.base_url, {}, None, None, None)
        self._proxies: dict[str, str] = settings["proxies"]
        self._verify: bool | str = settings["verify"]
        self._cert: str | tuple[str, str] | None = settings["cert"]
        self.patience = patience or Patience(
            patience_s,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            max_retry_after_s=max_retry_after_s,
        )
        self._max_attempts = max_attempts
        # Called before every request: a shared rate limiter plugs in here.
        self._throttle = throttle or _no_throttle
        # /reports/* are limited apart (100 per 15 minutes); their requests wait here instead.
        self._reports_throttle = reports_throttle or _no_throttle
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        self.per_page = per_page
        self._on_response = on_response or (lambda status, path: None)
        self._on_wait = on_wait or (lambda reason, seconds: None)
        self._on_wait_source = on_wait_source or (lambda source, seconds: None)
        self._sleep = sleep
        self.requests_made = 0

    def close(self) -> None:
        """Close the client's own session (a shared one stays open for the next client)."""
        if self._owns_session:
            self._session.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict:
        """GET one resource (e.g. /users/me, /company) and return its JSON."""
        return self._request(self._url(path), params).doc

    def count(self, path: str, params: dict[str, Any] | None = None) -> int | None:
        """How many records a list would return (its `total_entries`), in one one-record
        request; None where the envelope does not say (cursor-paginated lists may not)."""
        total = self.get(path, {**(params or {}), "per_page": 1}).get("total_entries")
        return int(total) if total is not None else None

    def pages(self, path: str, collection: str, params: dict[str, Any] | None = None) -> Iterator[list[dict]]:
        """Yield each page's records, following `links.next` (cursor or page based) until null."""
        for page in self.listing(path, collection, params):
            yield page.records

    def listing(
        self,
        path: str,
        collection: str,
        params: dict[str, Any] | None = None,
        *,
        decode: Decode = orjson.loads,
    ) -> Iterator[ListedPage]:
        """Like pages(), with each page's number, `total_entries` and Harvest's time.
        `decode`: how a page's body becomes its JSON document (infra.harvest.entries decodes
        time entries into the model as it reads them)."""
        query: dict[str, Any] | None = {"per_page": self.per_page, **(params or {})}
        url: str | None = self._url(path)
        number = 0
        while url:
            reply = self._request(url, query, decode)
            number += 1
            total = reply.doc.get("total_entries")
            # links.next already carries per_page, filters and the cursor: request it as given,
            # once it is known to lead back to base_url.
            url = self._next_url((reply.doc.get("links") or {}).get("next"))
            query = None
            yield ListedPage(
                reply.doc.get(collection) or [],
                number,
                int(total) if total is not None else None,
                reply.served_at,
                last=url is None,
            )

    def report(self, kind: str, start: date, end: date) -> list[dict]:
        """Every row of a time report (`/reports/time/{kind}`) for spent dates start..end
        (at most 365 days: Harvest refuses longer timeframes)."""
        params = {"from": start.strftime("%Y%m%d"), "to": end.strftime("%Y%m%d")}
        return [row for page in self.pages(f"/reports/time/{kind}", "results", params) for row in page]

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _next_url(self, link: object) -> str | None:
        """The next page's URL from untrusted `links.next`, requoted as requests would have:
        None at the end; HarvestRequestError if it leads anywhere but under base_url, since
        following it would hand the token to whoever wrote it."""
        if not link:
            return None
        if not isinstance(link, str):
            raise HarvestRequestError(f"Harvest's links.next is not a URL: {type(link).__name__}")
        url = requote_uri(link)
        parts = urlsplit(url)
        if not self._leads_here(parts):
            raise HarvestRequestError(
                f"Harvest's links.next leads away from {self.base_url} "
                f"(to {_shown_host(parts)}): not followed, the token goes only to base_url"
            )
        return url

    def _leads_here(self, parts: SplitResult) -> bool:
        """Same scheme, host and port as base_url, no user info, a path under base_url's."""
        try:
            port = parts.port  # raises on a port that is no number or out of range
        except ValueError:
            return False
        same_origin = (
            parts.hostname is not None
            and parts.scheme.lower() == self._base.scheme.lower()
            and parts.hostname == self._base.hostname
            and _port_or_default(parts.scheme, port) == _port_or_default(self._base.scheme, self._base.port)
            and parts.username is None
            and parts.password is None
        )
        return same_origin and _path_under(parts.path, self._base.path.rstrip("/"))

    def _prepare(self, url: str) -> requests.PreparedRequest:
        """A GET of `url` as it stands: our URLs are built and encoded here, next links are
        requoted by _next_url, so requests' prepare_url (parse, IDNA, requote) is skipped."""
        prepared = requests.PreparedRequest()
        prepared.prepare_method("GET")
        prepared.headers = self._headers.copy()
        prepared.body = None
        prepared.hooks = {"response": []}
        prepared.url = url
        return prepared

    def _send(self, prepared: requests.PreparedRequest) -> requests.Response:
        """Send through the adapter mounted for the URL (no cookies, hooks or redirects) and
        read the body, as Session.send does: that hands the connection back to the pool
        (a 429 or 503 is not otherwise read), and a reset or timeout while reading it
        raises requests.ConnectionError here, where it is retried."""
        adapter = self._session.get_adapter(prepared.url)
        resp = adapter.send(
            prepared, timeout=self._timeout_s, verify=self._verify, proxies=self._proxies, cert=self._cert
        )
        resp.content  # noqa: B018 - read for its effect
        return resp

    def _request(self, url: str, params: dict[str, Any] | None, decode: Decode = orjson.loads) -> _Reply:
        path = urlsplit(url).path
        throttle = self._reports_throttle if REPORTS_PREFIX in path else self._throttle
        # Encoded here, once, as requests would (urlencode, doseq): its own encoding of a dict,
        # protocol checks and all, was about 6% of a daily sync's CPU in this process.
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params, doseq=True)}"
        # Built once: retries send the same request (adapters do not change it).
        prepared = self._prepare(url)
        attempt = 0
        while True:
            attempt += 1
            throttle()
            try:
                resp = self._send(prepared)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._on_response(0, path)
                reason = type(exc).__name__
                self._give_up_if_spent(attempt, path, f"Harvest unreachable on {path}: {reason}")
                self._wait(self.patience.after_failure(), path, attempt, reason=reason)
                continue
            self.requests_made += 1
            self._on_response(resp.status_code, path)
            status = resp.status_code
            if status == 200:
                self.patience.succeeded()
                # orjson parses a 2,000-entry page about four times faster than json.
                return _Reply(decode(resp.content), _served_at(resp))
            if status in (401, 403):
                raise HarvestAuthError(status, path)
            if status == 429:
                # The shared limit let this request through, yet Harvest refused it: someone
                # else spends the token's requests, and the limit should learn of it.
                if isinstance(throttle, LearningThrottle):
                    throttle.refused()
                self._give_up_if_spent(attempt, path, f"Harvest rate limit persisted on {path}")
                # The 429 body is HTML; only the Retry-After header matters.
                said = _retry_after_s(resp)
                self._wait(self.patience.after_refusal(said), path, attempt, retry_after_s=said)
                continue
            if status in RETRYABLE_STATUS:
                self._give_up_if_spent(attempt, path, f"Harvest answered {status} on {path} {attempt} times")
                self._wait(self.patience.after_failure(), path, attempt, reason=f"http {status}")
                continue
            raise HarvestRequestError(f"Harvest answered {status} on {path}: {_message(resp)}")

    def _give_up_if_spent(self, attempt: int, path: str, what: str) -> None:
        out_of_attempts = self._max_attempts is not None and attempt >= self._max_attempts
        if not (out_of_attempts or self.patience.exhausted):
            return
        waited_s = round(self.patience.waited_s, 1)
        log.warning("harvest_gave_up", path=path, attempt=attempt, waited_s=waited_s)
        raise HarvestUnavailable(f"{what} (waited {waited_s} s)")

    def _wait(self, wait: Wait, path: str, attempt: int, **fields: object) -> None:
        delay_s = round(wait.seconds, 2)
        if wait.source == "unavailable":
            log.info("harvest_retry", path=path, attempt=attempt, delay_s=delay_s, **fields)
        else:
            log.info(
                "harvest_rate_limited",
                path=path,
                attempt=attempt,
                wait_s=delay_s,
                source=wait.source,
                **fields,
            )
        # Heard before the sleep, so progress and metrics show a long wait while it lasts.
        self._on_wait(REASONS[wait.source], wait.seconds)
        self._on_wait_source(wait.source, wait.seconds)
        self.patience.record(wait.seconds)
        self._sleep(wait.seconds)


def shared_session(base_url: str, *, connections: int = 10) -> requests.Session:
    """One session for every client of a process: its connections to Harvest are kept alive
    from one message to the next (no TCP and TLS handshake per message), and what requests
    would read from the environment on every request is read once, here.

    The environment's proxy for `base_url` (HTTPS_PROXY, NO_PROXY, ...) and CA bundle
    (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) are taken as requests would take them; ~/.netrc is
    not read (each request carries its own token). Cookies are never sent or kept: a cookie
    one account's answer set must never travel with another account's requests. HarvestClient
    sends through the adapter, which never touches the session's jar; the jar refuses every
    cookie all the same, for anything that calls session.get directly."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(base_url)
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _no_throttle() -> None:
    return None


def _retry_after_s(resp: requests.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    raw = resp.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return (at - datetime.now(UTC)).total_seconds()


def _served_at(resp: requests.Response) -> datetime | None:
    """Harvest's clock when it answered (HTTP Date, second precision); None if absent."""
    raw = resp.headers.get("Date")
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None


def _message(resp: requests.Response) -> str:
    if "json" in resp.headers.get("Content-Type", ""):
        try:
            doc = resp.json()
            return str(doc.get("message") or doc.get("error") or doc)[:200]
        except ValueError:
            pass
    return resp.reason or ""


def _port_or_default(scheme: str, port: int | None) -> int | None:
    return port if port is not None else DEFAULT_PORTS.get(scheme.lower())


def _path_under(path: str, base_path: str) -> bool:
    """`path` is base_path or below it, with no dot segment that would climb out of it."""
    segments = path.split("/")
    if "." in segments or ".." in segments:
        return False
    return path == base_path or path.startswith(f"{base_path}/")


def _shown_host(parts: SplitResult) -> str:
    """The host (and port) a refused link named, cut short and quoted: it is Harvest's
    untrusted text, bound for a message and a log line. User info is left out."""
    host = parts.netloc.rpartition("@")[2] or "no host"
    cut = host[:SHOWN_HOST_CHARS] + ("..." if len(host) > SHOWN_HOST_CHARS else "")
    return repr(cut)
