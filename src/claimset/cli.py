"""The ``claimset`` command line: parse arguments, call one library function, print its result.

Library errors (:class:`claimset.errors.ClaimsetError`) become one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from claimset.errors import ClaimsetError

app = typer.Typer(
    name="claimset",
    help="Build, check and score the claimset gold dataset of attributed claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit 1."""
    err.print(f"Error: {message}", markup=False)
    raise typer.Exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors into a one-line message and exit code 1."""
    try:
        yield
    except ClaimsetError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


# --- commands -------------------------------------------------------------------------------------


def main() -> None:
    app()
