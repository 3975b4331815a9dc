"""``claimset init``: scaffold an annotation project that uses claimset from outside this repository.

The project's files come from templates shipped inside the package (``claimset/templates/project``,
read with :mod:`importlib.resources`; a leading ``dot-`` in a template's name stands for ``.``), plus
an editable copy of the default scheme and the Label Studio config generated from it. The project is
written to a staging folder and renamed into place, so a failed ``init`` leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from claimset import __version__
from claimset.errors import ClaimsetError
from claimset.scheme import PROJECT_CONFIG, PROJECT_SCHEME, default_scheme, label_config_xml
from claimset.tables import current_umask

TEMPLATES = "templates/project"
EMPTY_FOLDERS = ("annotations/raw",)  # kept in git by a .gitkeep


def init_project(directory: Path, *, hook_repo: str, hook_rev: str | None = None) -> list[Path]:
    """Write a new annotation project into ``directory`` (absent or empty); return the files written,
    relative to it. ``hook_repo``/``hook_rev`` are what ``.pre-commit-config.yaml`` points at."""
    target = _new_folder(directory)
    values = {"name": target.name, "claimset_version": __version__, "hook_repo": hook_repo,
              "hook_rev": hook_rev or f"v{__version__}"}
    try:
        return _write_project(target, values)
    except OSError as exc:
        raise ClaimsetError(f"{directory}: cannot create the project: {exc.strerror}") from exc


def _new_folder(directory: Path) -> Path:
    """The absolute path of ``directory`` if it is absent or an empty folder; else a one-line error."""
    if directory.is_symlink():
        raise ClaimsetError(f"{directory}: is a symbolic link; give the path of a new folder")
    target = directory.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ClaimsetError(f"{directory}: exists and is not an empty folder; give a new folder")
    return target


def _write_project(directory: Path, values: dict[str, str]) -> list[Path]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.init-", dir=directory.parent))
    try:
        staging.chmod(0o777 & ~current_umask())
        written = _render(resources.files("claimset").joinpath(TEMPLATES), staging, Path(), values)
        scheme = default_scheme()
        written += [_write(staging, PROJECT_SCHEME, scheme.source), _write(staging, PROJECT_CONFIG,
                                                                          label_config_xml(scheme))]
        written += [_write(staging, Path(folder) / ".gitkeep", "") for folder in EMPTY_FOLDERS]
        if directory.exists():  # empty (checked above), perhaps the working folder: fill it, keep it
            _move_into(staging, directory)
        else:
            os.rename(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(written)


def _move_into(staging: Path, directory: Path) -> None:
    """Move the staged entries into the empty ``directory``; on failure take back the ones moved."""
    moved: list[Path] = []
    try:
        for entry in staging.iterdir():
            os.rename(entry, directory / entry.name)
            moved.append(directory / entry.name)
    except OSError:
        for path in moved:
            os.rename(path, staging / path.name)
        raise


def _render(folder: Traversable, staging: Path, relative: Path, values: dict[str, str]) -> list[Path]:
    written: list[Path] = []
    for entry in folder.iterdir():
        name = "." + entry.name.removeprefix("dot-") if entry.name.startswith("dot-") else entry.name
        if entry.is_dir():
            written += _render(entry, staging, relative / name, values)
        elif not name.endswith((".pyc", ".pyo")):
            written.append(_write(staging, relative / name,
                                  Template(entry.read_text(encoding="utf-8")).safe_substitute(values)))
    return written


def _write(root: Path, relative: Path, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return relative
