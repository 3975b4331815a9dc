"""Label Studio errors without a server: no secret in a message, one line each (issue 13, item 10)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.labelstudio import Client, Connection, api_errors, redact

pytest.importorskip("label_studio_sdk")

KEY = "f3a9c2e18b7d4a6f9e0c1b2a3d4e5f6a7b8c9d0e"
CONN = Connection("http://127.0.0.1:8080", KEY)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def error_from(exc: Exception) -> str:
    with pytest.raises(ClaimsetError, match="importing tasks") as info, api_errors(CONN, "importing tasks"):
        raise exc
    return str(info.value)


def http_status_error(body: Any) -> Exception:
    import httpx

    request = httpx.Request("POST", "http://127.0.0.1:8080/api/projects/1/import")
    return httpx.HTTPStatusError("server error", request=request,
                                 response=httpx.Response(500, json=body, request=request))


ECHOES = [  # server replies that quote the request's credentials back, in the part a message shows
    {"detail": {"headers": {"Authorization": f"Token {KEY}"}}},
    {"detail": f"bad request with Authorization: Token {KEY}"},
    {"validation_errors": {"api_key": "another-secret-value", "password": "hunter2"}},
    {"request": {"headers": {"authorization": "Token 0123456789abcdef0123456789"}}},
    {"message": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl was refused"},
]


@pytest.mark.parametrize("body", ECHOES)
def test_a_reply_that_echoes_credentials_is_redacted(body: dict[str, Any]) -> None:
    from label_studio_sdk.core.api_error import ApiError

    for exc in (ApiError(status_code=500, body=body), http_status_error(body)):
        message = error_from(exc)
        assert message.startswith("Label Studio at http://127.0.0.1:8080: importing tasks failed (500): ")
        assert "[redacted]" in message and "\n" not in message
        for secret in (KEY, "another-secret-value", "hunter2", "0123456789abcdef", "eyJhbGciOiJIUzI1NiJ9"):
            assert secret not in message


def test_redact_leaves_words_about_tokens_alone() -> None:
    assert redact("Token is invalid or expired") == "Token is invalid or expired"


def run_pull(monkeypatch: pytest.MonkeyPatch, url: str, key: str, tmp: Any) -> Any:
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", key)
    return CliRunner().invoke(app, ["pull", "--project", "p", "--raw-dir", str(tmp / "raw"), "--out", str(tmp / "o")])


def test_a_non_ascii_api_key_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    result = run_pull(monkeypatch, f"http://127.0.0.1:{closed_port()}", "clé-ünïcode", tmp_path)
    assert (result.exit_code, result.output) == (1, "Error: LABEL_STUDIO_API_KEY holds non-ASCII or control "
                                                    "characters; a Label Studio API token is ASCII: copy it again "
                                                    "from Account & Settings\n")


def test_a_password_in_the_url_is_not_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    port = closed_port()
    result = run_pull(monkeypatch, f"http://admin:hunter2@127.0.0.1:{port}", KEY, tmp_path)
    assert (result.exit_code, result.output) == (
        1, f"Error: cannot reach Label Studio at http://127.0.0.1:{port}: connection refused\n")
    assert Connection("https://admin:hunter2@ls.example.org:8443/base", KEY).shown_url == \
        "https://ls.example.org:8443/base"


# --- proxies: never for a server on this machine ---------------------------------------------------------------


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers every GET as Label Studio's whoami would, and records what it got (path, Authorization)."""

    seen: ClassVar[list[tuple[str, str, str | None]]] = []

    def do_GET(self) -> None:
        _Answer.seen.append((self.server.name, self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        body = json.dumps({"id": 1, "email": "lead@claimset.test", "username": "lead", "token": "x"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_and_proxy() -> Iterator[tuple[str, str]]:
    _Answer.seen = []
    servers = []
    for name in ("server", "proxy"):
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
        httpd.name = name  # type: ignore[attr-defined]
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    try:
        yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    finally:
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()


def _proxies(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_server_is_never_reached_through_a_proxy(monkeypatch: pytest.MonkeyPatch, host: str,
                                                            server_and_proxy: tuple[str, str]) -> None:
    server, proxy = server_and_proxy
    _proxies(monkeypatch, proxy)
    client = Client(Connection(server.replace("127.0.0.1", host), KEY))  # the SDK's whoami
    client.request("GET", "api/invite", "reading")  # a raw call
    assert [(name, path) for name, path, _ in _Answer.seen] == [("server", "/api/current-user/whoami"),
                                                                ("server", "/api/invite")]
    assert all(auth == f"Token {KEY}" for _, _, auth in _Answer.seen)


def test_a_remote_server_is_reached_through_the_proxy_of_the_environment(
        monkeypatch: pytest.MonkeyPatch, server_and_proxy: tuple[str, str]) -> None:
    _, proxy = server_and_proxy
    _proxies(monkeypatch, proxy)
    Client(Connection("http://ls.example.invalid:8080", KEY))
    assert [(name, path) for name, path, _ in _Answer.seen] == [
        ("proxy", "http://ls.example.invalid:8080/api/current-user/whoami")]


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8080", True), ("http://127.8.9.10", True), ("http://[::1]:8080", True),
    ("http://localhost", True), ("https://LOCALHOST:1", True), ("http://10.0.0.1", False),
    ("http://127.0.0.1.example.invalid", False), ("http://localhost@example.invalid", False), ("http://[", False),
])
def test_which_servers_are_loopback(url: str, loopback: bool) -> None:
    assert Connection(url, KEY).loopback is loopback
