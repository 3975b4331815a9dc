"""Label Studio servers started by ``scripts/label-studio`` for the tests (``conftest.py``) and ``scripts/loadtest``.

A :class:`ScriptServer` is the environment that names one server: its state folder, ports, database
backend and admin account. The account's password and token, and the PostgreSQL role's password, are
random and live in that environment only (the script passes them on to the server the same way).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "label-studio"
START_TIMEOUT = 300  # seconds for `scripts/label-studio start`, install excluded
BACKENDS = ("sqlite", "postgres")


END_TIMEOUT = 60  # seconds a script has to clean up after SIGTERM


def _end(process: subprocess.Popen[str]) -> None:
    """End a running ``scripts/label-studio``: SIGTERM (it stops what it launched), then SIGKILL."""
    process.terminate()
    try:
        process.communicate(timeout=END_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


class ServerError(Exception):
    """A server that could not be started, stopped, backed up or restored; the script's last lines."""


def free_port(*taken: int) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


@contextmanager
def state_folder(prefix: str = "claimset-ls-") -> Iterator[Path]:
    """A new folder for a server's state that the ``postgres`` user can reach (``/tmp/pytest-of-root`` is
    private to root), removed afterwards with everything in it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class ScriptServer:
    env: dict[str, str] = field(repr=False)

    @property
    def db(self) -> str:
        return self.env["LABEL_STUDIO_DB"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['LABEL_STUDIO_PORT']}"

    @property
    def token(self) -> str:
        return self.env["LABEL_STUDIO_USER_TOKEN"]

    @property
    def state(self) -> Path:
        return Path(self.env["LABEL_STUDIO_DATA_DIR"]).parent

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``scripts/label-studio ARGS`` for this server; a hung script is a :class:`ServerError`.

        A script that hangs, or that is still running when this process is interrupted (a signal turned into
        an exception, Ctrl-C), gets SIGTERM first, so that it stops what it launched (a starting server, its
        PostgreSQL); SIGKILL only if it does not end within :data:`END_TIMEOUT` seconds.
        """
        command = [str(SCRIPT), *args]
        with subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _end(process)
                raise ServerError(f"scripts/label-studio {' '.join(args)} did not finish within {timeout:.0f}s") \
                    from None
            except BaseException:
                _end(process)
                raise
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def check(self, *args: str, timeout: float = 120) -> str:
        """Run ``scripts/label-studio ARGS``; its output, or a :class:`ServerError` with its last lines."""
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise ServerError(f"scripts/label-studio {args[0]} ({self.db}) failed: {tail}")
        return done.stdout

    def start(self) -> str:
        return self.check("start", timeout=START_TIMEOUT + 600)

    def stop(self) -> str:
        return self.check("stop", timeout=180)

    def elsewhere(self, state: Path) -> ScriptServer:
        """The same account and backend with another state folder and free ports: a fresh server."""
        return server_env(state, self.db, account=self)


def server_env(state: Path, db: str, account: ScriptServer | None = None) -> ScriptServer:
    """A server on ``db`` with its state in ``state``, on free ports, with a random account (or ``account``'s).

    Variables that would point the script or Label Studio elsewhere (``LABEL_STUDIO_*``, ``POSTGRE_*``,
    libpq's ``PG*``) are not passed on, except ``LABEL_STUDIO_PG_BIN`` (which PostgreSQL binaries to use).
    """
    if db not in BACKENDS:
        raise ValueError(f"unknown database backend {db!r}")
    env = {k: v for k, v in os.environ.items()
           if k == "LABEL_STUDIO_PG_BIN" or not k.startswith(("LABEL_STUDIO_", "POSTGRE_", "PG"))}
    port = free_port()
    env.update({
        "LABEL_STUDIO_DB": db,
        "LABEL_STUDIO_PORT": str(port),
        "LABEL_STUDIO_DATA_DIR": str(state / "data"),
        "LABEL_STUDIO_USERNAME": f"admin-{secrets.token_hex(4)}@claimset.test",
        "LABEL_STUDIO_PASSWORD": secrets.token_urlsafe(18),
        "LABEL_STUDIO_USER_TOKEN": secrets.token_hex(20),
        "LABEL_STUDIO_START_TIMEOUT": "240",
    })
    if db == "postgres":
        env["LABEL_STUDIO_PG_PORT"] = str(free_port(port))
        env["POSTGRE_PASSWORD"] = secrets.token_urlsafe(18)
    if account is not None:
        for name in ("LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN"):
            env[name] = account.env[name]
    return ScriptServer(env)
