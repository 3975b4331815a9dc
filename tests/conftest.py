"""Shared fixtures: live Label Studio servers, one per database backend and test session.

``label_studio``: Label Studio on SQLite. If ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` are set,
the tests use that server. Otherwise the fixture starts a throw-away server with
``scripts/label-studio start`` on a free port, with a data directory under the session's tmp dir and a
random admin account and token (passed to the server in its environment only), and stops it at the end
of the session.

``label_studio_pg``: Label Studio on PostgreSQL, always started by ``scripts/label-studio start`` with
``LABEL_STUDIO_DB=postgres``: the script's own PostgreSQL cluster on another free port, in a state
folder the ``postgres`` user can reach (a folder of its own under the system's temporary folder, removed
at the end).

When a server cannot be started the tests that need it are skipped, or fail under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest

from lsserver import ScriptServer, ServerError, server_env, state_folder


@dataclass
class LiveLabelStudio:
    url: str
    api_key: str = field(repr=False)
    client: Any = field(repr=False)  # claimset.labelstudio.Client
    server: ScriptServer | None = None  # None: the server of LABEL_STUDIO_URL, not started here

    @property
    def sdk(self) -> Any:
        """The ready ``label_studio_sdk.LabelStudio`` client, acting as the admin."""
        return self.client.sdk


def _give_up(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _need_sdk() -> None:
    try:
        import label_studio_sdk  # noqa: F401
    except ImportError:
        _give_up("label-studio-sdk is not installed (pip install -e '.[dev]')")


def connect_to(server: ScriptServer) -> LiveLabelStudio:
    """A client for a server started by ``server.start()``, as its admin; :class:`ServerError` if unusable."""
    from claimset.errors import ClaimsetError
    from claimset.labelstudio import Connection, connect

    try:
        client = connect(Connection(server.url, server.token))
    except ClaimsetError as exc:
        raise ServerError(f"Label Studio ({server.db}) started but is not usable: {exc}") from None
    return LiveLabelStudio(server.url, server.token, client, server)


@contextmanager
def running(server: ScriptServer) -> Iterator[LiveLabelStudio]:
    """Start ``server`` and yield a client; stop it (and its PostgreSQL) afterwards, also after a failed start."""
    try:
        server.start()
        yield connect_to(server)
    finally:
        server.run("stop", timeout=180)


@contextmanager
def _session_server(server: ScriptServer) -> Iterator[LiveLabelStudio]:
    try:
        server.start()
        live = connect_to(server)
    except ServerError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        server.run("stop", timeout=180)
        _give_up(f"cannot start Label Studio with scripts/label-studio: {problem}")
    try:
        yield live
    finally:
        server.run("stop", timeout=180)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLabelStudio]:
    _need_sdk()
    from claimset.errors import ClaimsetError
    from claimset.labelstudio import Connection, connect

    url = os.environ.get("LABEL_STUDIO_URL", "").strip().rstrip("/")
    key = os.environ.get("LABEL_STUDIO_API_KEY", "").strip()
    if url and key:
        try:
            client = connect(Connection(url, key))
        except ClaimsetError as exc:
            _give_up(f"Label Studio from LABEL_STUDIO_URL: {exc}")
        yield LiveLabelStudio(url, key, client)
        return
    with _session_server(server_env(tmp_path_factory.mktemp("labelstudio"), "sqlite")) as live:
        yield live


@pytest.fixture(scope="session")
def label_studio_pg() -> Iterator[LiveLabelStudio]:
    _need_sdk()
    with state_folder("claimset-pg-") as state, _session_server(server_env(state, "postgres")) as live:
        yield live


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def any_label_studio(request: pytest.FixtureRequest) -> LiveLabelStudio:
    """Each backend's session server in turn (tests parametrised over the database)."""
    live: LiveLabelStudio = request.getfixturevalue("label_studio" if request.param == "sqlite" else "label_studio_pg")
    return live
