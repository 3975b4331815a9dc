"""The code stays clean: ruff and mypy (configured in pyproject.toml) report nothing, scripts included."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def python_scripts() -> set[str]:
    """The Python files of scripts/, with or without a .py ending (by their #! line)."""
    found = set()
    for path in (ROOT / "scripts").iterdir():
        first = path.read_text(encoding="utf-8").partition("\n")[0] if path.is_file() else ""
        if path.suffix == ".py" or (first.startswith("#!") and "python" in first):
            found.add(path.relative_to(ROOT).as_posix())
    return found


def test_the_python_scripts_are_found() -> None:
    assert {"scripts/bench", "scripts/check_spec.py", "scripts/record-fixtures", "scripts/screenshots",
            "scripts/submit-gold"} <= python_scripts()
    assert "scripts/label-studio" not in python_scripts()  # a shell script


def test_ruff_and_mypy_cover_every_python_script() -> None:
    shown = subprocess.run([str(BIN / "ruff"), "check", "--show-files", "."], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    assert python_scripts() <= {Path(line).relative_to(ROOT).as_posix() for line in shown if line.startswith("/")}
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert python_scripts() <= set(mypy["files"])  # (without scripts_are_modules mypy would fail below)


def test_ruff_is_clean() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_mypy_is_clean() -> None:
    result = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_pytest_raises_says_what_message_it_expects() -> None:
    """``pytest.raises`` without ``match=`` passes on any error of that type, the wrong one included."""
    unmatched = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "raises" \
                    and not any(keyword.arg == "match" for keyword in node.keywords):
                unmatched.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert unmatched == []
