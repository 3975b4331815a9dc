"""Errors the library raises for bad input; the CLI turns each into one line and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path


class ClaimsetError(Exception):
    """Bad input or a failed operation, with a message that says what and where.

    The message is a single line, fit to print as is: ``seeds/x.txt: line 1: expected 'date YYYY-MM-DD'``.
    """


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of the file at ``path``; a one-line :class:`ClaimsetError` naming it and ``what`` it is."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClaimsetError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ClaimsetError(f"{path}: not UTF-8 (byte {exc.start})") from None


def os_problem(exc: OSError) -> str:
    """What an operating-system error says (a full disk, an I/O error), in a few words on one line."""
    text = exc.strerror or (str(exc).splitlines() or [""])[0]
    return text or type(exc).__name__


class ClaimsetWarning(UserWarning):
    """Something the user should know that does not stop the command; the CLI prints it as one line."""
def json_problem(exc: BaseException) -> str:
    """Why the standard library's JSON decoder refused a text, in a few words on one line.

    Besides :class:`json.JSONDecodeError` it raises :class:`RecursionError` for deep nesting and a plain
    :class:`ValueError` for an integer of more than 4300 digits.
    """
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno} column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(":")[0] or type(exc).__name__


LONE_SURROGATE = "a lone surrogate (a \\ud800-\\udfff escape without its pair) is not Unicode text"


class MissingExtraError(ClaimsetError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed; install it with: pip install 'claimset[{extra}]'")
