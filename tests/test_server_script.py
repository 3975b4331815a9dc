"""scripts/label-studio's port check: a stopped server's sockets in TIME_WAIT do not block a restart."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "label-studio"


def port_in_use(port: int) -> bool:
    env = {**os.environ, "LABEL_STUDIO_PORT": str(port)}
    done = subprocess.run([str(SCRIPT), "port-in-use"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def time_wait_port() -> int:
    """A port whose only socket is the server's end of a connection it closed first: in TIME_WAIT.

    The listener sets SO_REUSEADDR as servers do (Label Studio's included); Linux lets a new socket with
    SO_REUSEADDR bind over TIME_WAIT sockets only when their listener had it too.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server closes first (as a stopped server does) ...
        client.recv(1)  # ... the client sees the end of the stream ...
        client.close()  # ... and closes: the server's end is now in TIME_WAIT
    return port


def test_a_port_left_in_time_wait_is_free_for_a_restart() -> None:
    port = time_wait_port()
    # the old check: a bind without SO_REUSEADDR fails
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))
    assert not port_in_use(port)


def test_a_port_someone_listens_on_is_in_use() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert port_in_use(int(listener.getsockname()[1]))
