"""Errors the library raises for bad input; the CLI turns each into one line and exit code 1."""

from __future__ import annotations


class ClaimsetError(Exception):
    """Bad input or a failed operation, with a message that says what and where.

    The message is a single line, fit to print as is: ``seeds/x.txt: line 1: expected 'date YYYY-MM-DD'``.
    """


class ClaimsetWarning(UserWarning):
    """Something the user should know that does not stop the command; the CLI prints it as one line."""


class MissingExtraError(ClaimsetError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed; install it with: pip install 'claimset[{extra}]'")
