"""Shared fixtures. ``label_studio``: one live Label Studio server per test session.

If ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` are set, the tests use that server. Otherwise the
fixture starts a throw-away server with ``scripts/label-studio start`` on a free port, with a data
directory under the session's tmp dir and a random admin account and token (passed to the server in
its environment only), and stops it at the end of the session. When the server cannot be started
the tests are skipped, or fail under ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "label-studio"
START_TIMEOUT = 300  # seconds for `scripts/label-studio start`, install excluded


@dataclass
class LiveLabelStudio:
    url: str
    api_key: str = field(repr=False)
    client: Any = field(repr=False)  # claimset.labelstudio.Client

    @property
    def sdk(self) -> Any:
        """The ready ``label_studio_sdk.LabelStudio`` client, acting as the admin."""
        return self.client.sdk


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _give_up(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLabelStudio]:
    try:
        import label_studio_sdk  # noqa: F401
    except ImportError:
        _give_up("label-studio-sdk is not installed (pip install -e '.[dev]')")
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

    state = tmp_path_factory.mktemp("labelstudio")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")},
        "LABEL_STUDIO_PORT": str(port),
        "LABEL_STUDIO_DATA_DIR": str(state / "data"),
        "LABEL_STUDIO_USERNAME": f"admin-{secrets.token_hex(4)}@claimset.test",
        "LABEL_STUDIO_PASSWORD": secrets.token_urlsafe(18),
        "LABEL_STUDIO_USER_TOKEN": secrets.token_hex(20),
        "LABEL_STUDIO_START_TIMEOUT": "240",
    }
    try:
        started = subprocess.run(
            [str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=START_TIMEOUT + 600
        )
    except subprocess.TimeoutExpired:
        started = None
    try:
        if started is None or started.returncode != 0:
            output = "" if started is None else (started.stderr or started.stdout)
            tail = " | ".join(output.strip().splitlines()[-5:])
            _give_up(f"cannot start Label Studio with scripts/label-studio: {tail or 'timed out'}")
        url = f"http://127.0.0.1:{port}"
        token = env["LABEL_STUDIO_USER_TOKEN"]
        try:
            client = connect(Connection(url, token))
        except ClaimsetError as exc:
            _give_up(f"Label Studio started but is not usable: {exc}")
        yield LiveLabelStudio(url, token, client)
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
