"""`scripts/label-studio start` without Label Studio: a copy of the script beside a stand-in venv whose
``label-studio`` answers /health and /api/current-user/whoami as Label Studio does (a data dir keeps the admin
token of its first start). What `start` checks after the server answers (the token), what it gives the server
(no Sentry), that it sends nothing through a proxy, and a second `start` whose own PostgreSQL died."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from lsserver import free_port, state_folder

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "label-studio"

FAKE_LABEL_STUDIO = """
import http.server, os, pathlib, sys
args = sys.argv[1:]
port, data = int(args[args.index("--port") + 1]), pathlib.Path(args[args.index("--data-dir") + 1])
token_file = data / "admin-token"  # as Label Studio's database: the token of the first start stays
if not token_file.exists():
    token_file.write_text(os.environ["LABEL_STUDIO_USER_TOKEN"])
token = token_file.read_text()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            code = 200
        elif self.path == "/api/current-user/whoami":
            code = 200 if self.headers.get("Authorization") == f"Token {token}" else 401
        else:
            code = 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A repository holding a copy of scripts/label-studio and a .venv-labelstudio with a stand-in Label Studio."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, root / "scripts" / "label-studio")
    bin_dir = root / ".venv-labelstudio" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"  # answers the script's version and driver checks
    python.write_text('#!/bin/sh\ncase "$*" in *metadata*) echo 1.23.2 ;; esac\nexit 0\n')
    server = bin_dir / "label-studio"
    server.write_text(f"#!{sys.executable}\n{FAKE_LABEL_STUDIO}")
    for path in (python, server):
        path.chmod(0o755)
    return root


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Recorder.seen.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
        self.send_response(502)
        self.end_headers()

    do_CONNECT = do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[list[str]]:
    """A proxy that records every request it gets (and fails it)."""
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield [f"http://127.0.0.1:{server.server_address[1]}"]
    finally:
        server.shutdown()
        server.server_close()


class Runner:
    def __init__(self, root: Path, state: Path, proxy_url: str) -> None:
        self.root, self.state = root, state
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "POSTGRE_", "PG"))}
        self.env = {**base, "LABEL_STUDIO_DATA_DIR": str(state / "data"), "LABEL_STUDIO_PORT": str(free_port()),
                    "LABEL_STUDIO_USERNAME": "lead@claimset.test", "LABEL_STUDIO_PASSWORD": "not-used-123",
                    "LABEL_STUDIO_USER_TOKEN": "a" * 40, "LABEL_STUDIO_START_TIMEOUT": "60",
                    "LABEL_STUDIO_SENTRY_DSN": "https://key@sentry.example.invalid/1",
                    **{name: proxy_url for name in ("http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy")}}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.root / "scripts" / "label-studio"), *args], env={**self.env, **env},
                              capture_output=True, text=True, timeout=180)

    def pid(self) -> int:
        return int((self.state / "label-studio.pid").read_text())


@pytest.fixture
def run(fake_root: Path, proxy: list[str]) -> Iterator[Runner]:
    with state_folder() as state:
        runner = Runner(fake_root, state, proxy[0])
        try:
            yield runner
        finally:
            runner("stop")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_start_checks_the_admin_token_and_sends_nothing_through_a_proxy(run: Runner, proxy: list[str]) -> None:
    first = run("start")
    assert first.returncode == 0, first.stderr
    assert Recorder.seen == []  # /health and whoami went straight to 127.0.0.1, the token too
    # Label Studio sends no crash reports: SENTRY_DSN and FRONTEND_SENTRY_DSN empty, the prefixed form removed.
    environ = Path(f"/proc/{run.pid()}/environ").read_bytes().split(b"\0")
    assert b"SENTRY_DSN=" in environ and b"FRONTEND_SENTRY_DSN=" in environ
    assert not any(b"sentry.example.invalid" in item for item in environ)
    assert run("stop").returncode == 0

    other = run("start", LABEL_STUDIO_USER_TOKEN="b" * 40)
    assert other.returncode == 1
    assert re.fullmatch(rf"label-studio: LABEL_STUDIO_USER_TOKEN is not the admin token of {run.state / 'data'} "
                        r"\(GET /api/current-user/whoami with it: HTTP 401\): that data dir has another admin token, "
                        r"set at its first start; give that one, or use a fresh LABEL_STUDIO_DATA_DIR\n",
                        other.stderr), other.stderr
    assert "b" * 40 not in other.stderr + other.stdout
    assert not (run.state / "label-studio.pid").exists()  # the server it launched is stopped again
    status = run("status")
    assert (status.returncode, status.stdout) == (3, "stopped\n")
    assert Recorder.seen == []


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.skip("PostgreSQL is not installed")
    return found[-1].parent


@pytest.mark.postgres
def test_a_second_start_starts_its_dead_postgresql_again(run: Runner) -> None:
    _pg_bin()
    pg = {"LABEL_STUDIO_DB": "postgres", "LABEL_STUDIO_PG_PORT": str(free_port())}
    first = run("start", **pg)
    assert first.returncode == 0, first.stderr
    postmaster = run.state / "postgres" / "data" / "postmaster.pid"
    pid = int(postmaster.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)  # PostgreSQL dies under a running Label Studio
    for _ in range(300):  # its children end (they hold its shared memory); the postmaster may linger as a zombie
        ps = subprocess.run(["ps", "-o", "args", "--ppid", str(pid)], capture_output=True, text=True).stdout
        if "postgres" not in ps and not _alive(pid):
            break
        time.sleep(0.1)
    assert run("status", **pg).returncode == 1  # degraded
    again = run("start", **pg)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"Label Studio is already running (pid {run.pid()}) ")
    assert f"its PostgreSQL ({run.state / 'postgres' / 'data'}) was down: started it again" in again.stderr
    status = run("status", **pg)
    assert status.returncode == 0 and status.stdout.startswith("running "), status.stdout
    stopped = run("stop")
    assert stopped.returncode == 0 and "PostgreSQL stopped" in stopped.stdout, stopped.stderr
    assert not _alive(int(postmaster.read_text().split()[0])) if postmaster.exists() else True
