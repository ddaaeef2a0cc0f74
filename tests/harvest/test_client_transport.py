"""How the client sends: prepared requests through the session's adapter, no redirects, no
cookies, and `links.next` followed only back to base_url (it carries the token)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from requests.utils import requote_uri

from infra.harvest.client import HarvestClient, shared_session
from infra.harvest.errors import HarvestRequestError, HarvestUnavailable

BASE = "https://api.example.test/v2"
TOKEN = "tok-secret"


class RecordingAdapter(requests.adapters.BaseAdapter):
    """Harvest's transport: answers each request with the next page of a script (a JSON
    document, or (status, headers)) and keeps what it was sent, and how."""

    def __init__(self, script: list[dict | tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self._script = list(script)
        self.sent: list[requests.PreparedRequest] = []
        self.kwargs: list[dict] = []

    def send(self, request, **kwargs):  # type: ignore[override]
        self.sent.append(request)
        self.kwargs.append(kwargs)
        step = self._script.pop(0)
        status, headers, doc = (200, {}, step) if isinstance(step, dict) else (*step, {})
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = status, request.url, request
        resp.headers.update({"Content-Type": "application/json", **headers})
        resp._content = json.dumps(doc).encode()
        return resp

    def close(self) -> None:
        pass


def page(ids: list[int], next_link: str | None) -> dict:
    return {"projects": [{"id": i} for i in ids], "total_entries": 3, "links": {"next": next_link}}


def client_on(adapter: RecordingAdapter, session: requests.Session | None = None) -> HarvestClient:
    session = session or requests.Session()
    # Every scheme goes to the recording adapter: a request sent elsewhere would be seen.
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return HarvestClient(
        BASE,
        token=TOKEN,
        harvest_account_id=1,
        user_agent="t (t@example.com)",
        session=session,
        sleep=lambda s: None,
    )


# -- links.next --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_link",
    [
        f"{BASE}/projects?cursor=abc&per_page=2000",
        "https://API.Example.test:443/v2/projects?cursor=abc&per_page=2000",  # same origin, spelt out
    ],
)
def test_a_next_link_back_to_base_url_is_followed(next_link):
    adapter = RecordingAdapter([page([1, 2], next_link), page([3], None)])
    pages = list(client_on(adapter).listing("/projects", "projects"))
    assert [[r["id"] for r in p.records] for p in pages] == [[1, 2], [3]]
    assert [p.last for p in pages] == [False, True]
    assert adapter.sent[0].url == f"{BASE}/projects?per_page=2000"
    assert adapter.sent[1].url == next_link
    assert adapter.sent[1].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("next_link", "shown"),
    [
        ("https://evil.example.com/v2/projects?page=2", "evil.example.com"),
        ("http://api.example.test/v2/projects?page=2", "api.example.test"),  # the token in clear
        ("https://api.example.test:8443/v2/projects?page=2", "api.example.test:8443"),
        ("https://api.example.test@evil.example.com/v2/projects", "evil.example.com"),
        ("https://someone@api.example.test/v2/projects", "api.example.test"),
        ("https://api.example.test/v3/projects?page=2", "api.example.test"),
        ("https://api.example.test/v2x/projects", "api.example.test"),
        ("https://api.example.test/v2/../admin/projects", "api.example.test"),
        ("https://api.example.test/v2/%2E%2E/admin", "api.example.test"),
        ("https://api.example.test:99999/v2/projects", "api.example.test:99999"),
        ("/v2/projects?page=2", "no host"),
        ("https://" + "x" * 300 + ".example.com/v2/projects", "x" * 60 + "..."),
    ],
)
def test_a_next_link_elsewhere_is_refused_and_nothing_is_sent_there(next_link, shown):
    adapter = RecordingAdapter([page([1, 2], next_link), page([3], None)])
    with pytest.raises(HarvestRequestError, match=r"links\.next leads away") as info:
        list(client_on(adapter).listing("/projects", "projects"))
    assert repr(shown) in str(info.value)
    assert TOKEN not in str(info.value)
    assert len(str(info.value)) < 250
    assert [r.url for r in adapter.sent] == [f"{BASE}/projects?per_page=2000"]


def test_a_next_link_that_is_no_string_is_refused():
    adapter = RecordingAdapter([page([1], None) | {"links": {"next": {"href": "x"}}}])
    with pytest.raises(HarvestRequestError, match="not a URL"):
        list(client_on(adapter).listing("/projects", "projects"))


def test_a_next_link_with_spaces_and_non_ascii_is_requoted():
    raw = f"{BASE}/time_entries?q=a b&name=Zoë&page=2&x=%41%zz"
    adapter = RecordingAdapter([page([1], raw), page([2], None)])
    list(client_on(adapter).listing("/time_entries", "projects"))
    assert adapter.sent[1].url == requote_uri(raw)
    assert adapter.sent[1].url == f"{BASE}/time_entries?q=a%20b&name=Zo%C3%AB&page=2&x=%2541%25zz"


# -- the request itself -------------------------------------------------------------------------


def test_a_redirect_is_not_followed_but_refused():
    adapter = RecordingAdapter([(302, {"Location": "https://evil.example.com/v2/company"})])
    with pytest.raises(HarvestRequestError, match="Harvest answered 302 on /v2/company"):
        client_on(adapter).get("/company")
    assert len(adapter.sent) == 1


def test_the_session_jar_and_headers_are_not_sent():
    session = requests.Session()
    session.cookies.set("sid", "another-accounts-cookie", domain="api.example.test")
    session.headers["X-Session-Header"] = "session"
    adapter = RecordingAdapter([{"id": 1}])
    assert client_on(adapter, session).get("/company", {"a": [1, 2]}) == {"id": 1}
    sent = adapter.sent[0]
    assert sent.url == f"{BASE}/company?a=1&a=2"
    assert (sent.method, sent.body) == ("GET", None)
    assert "Cookie" not in sent.headers and "X-Session-Header" not in sent.headers
    assert dict(sent.headers) == {
        "Authorization": f"Bearer {TOKEN}",
        "Harvest-Account-Id": "1",
        "User-Agent": "t (t@example.com)",
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
    }


def test_the_sessions_proxies_ca_bundle_and_cert_go_to_the_adapter(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/harvest-ca.pem")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = shared_session(BASE)
    session.cert = "/etc/client.pem"
    adapter = RecordingAdapter([{"id": 1}])
    client_on(adapter, session).get("/company")
    kwargs = adapter.kwargs[0]
    assert kwargs["proxies"]["https"] == "http://proxy.example.test:3128"
    assert (kwargs["verify"], kwargs["cert"], kwargs["timeout"]) == (
        "/etc/harvest-ca.pem",
        "/etc/client.pem",
        30.0,
    )


# -- over a real connection ---------------------------------------------------------------------


class LocalHarvest(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: answers by path, sets a cookie, records what it was sent."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str | None, tuple[str, int]]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Cookie"), self.client_address))
        status, body, extra = 200, b'{"id": 1}', {"Set-Cookie": "sid=abc; Path=/"}
        if self.path.startswith("/v2/limited"):
            status, body, extra = 429, b"<html>slow down</html>", {"Retry-After": "0"}
        elif self.path.startswith("/v2/moved"):
            status, body, extra = 302, b"", {"Location": "/v2/company"}
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **extra}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local() -> Iterator[tuple[str, list]]:
    seen: list = []
    handler = type("Handler", (LocalHarvest,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v2", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("own_session", [True, False])
def test_over_http_one_kept_alive_connection_no_cookies_no_redirects(local, own_session):
    base, seen = local
    session = None if own_session else shared_session(base)
    client = HarvestClient(
        base,
        token=TOKEN,
        harvest_account_id=1,
        user_agent="t",
        session=session,
        max_attempts=2,
        sleep=lambda s: None,
    )
    assert client.get("/company") == {"id": 1}
    with pytest.raises(HarvestUnavailable, match="rate limit persisted"):
        client.get("/limited")
    with pytest.raises(HarvestRequestError, match="302"):
        client.get("/moved")
    assert client.get("/company") == {"id": 1}
    client.close()
    assert [path for path, _, _ in seen] == [
        "/v2/company",
        "/v2/limited",
        "/v2/limited",
        "/v2/moved",
        "/v2/company",
    ]
    assert {cookie for _, cookie, _ in seen} == {None}  # Set-Cookie heard, never sent back
    # Unread 429 and 302 bodies would have kept their connection out of the pool.
    assert len({address for _, _, address in seen}) == 1
    assert client.requests_made == 5
