"""Writing a dataset folder as one atomic step: a complete new folder is staged, then swapped in.

:func:`replace_folder` yields an empty staging folder beside the target. When the block succeeds,
everything in the target that the new generation does not write is carried over (hard links), and
the staging folder and the target are exchanged with one ``renameat2(RENAME_EXCHANGE)`` system call
(Linux); where that call is missing, two renames, with the old folder kept as ``.NAME.old-*`` until the
new one is in place, so a crash between them is undone by the next run. A reader therefore sees either
the old dataset or the new one, never a mix; a failed or killed run leaves the target as it was.

One writer at a time: a second one fails at once with a message naming the folder (an advisory
``flock`` on ``.NAME.lock`` beside the target, released by the kernel if the holder dies). A writer
records in that lock file the folders it may leave (its staging folder, and where the two-rename
fallback puts the old generation); the next writer removes those, and only those, if a run was killed.

The target is taken as the real folder it names (``.`` and symbolic links resolved, so a link keeps
pointing at the dataset). It must be new, empty, or a dataset folder already (``claimset.json``, or
``documents.parquet`` for folders written before 0.2): anything else, the root folder or a home folder
given by mistake, is refused before a byte is written. The new folder keeps the old one's permissions
(and group); a new one gets the umask's.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from claimset.errors import ClaimsetError, os_problem
from claimset.tables import current_umask

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@dataclass
class Staging:
    """The folder being written; :meth:`discard` drops it, leaving the target untouched."""

    path: Path
    discarded: bool = False

    def discard(self) -> None:
        self.discarded = True


@contextmanager
def replace_folder(target: Path, generated: Collection[str] = ()) -> Iterator[Staging]:
    """Yield a fresh staging folder; on success (and unless discarded) it becomes ``target`` atomically.

    Entries of the old folder that the new one lacks are carried over, except those named in
    ``generated``: files a generation makes, which would be stale beside a new one.
    """
    target = _writable_target(target)
    with _exclusive(target):
        _recover(target)
        staging = Staging(Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent)))
        try:
            _record_leftovers(target, [staging.path, _old_name(target, staging.path)])
            yield staging
            if not staging.discarded:
                _carry_over(target, staging.path, generated)
                _take_mode(staging.path, target)  # last: a read-only mode would stop the writing
                _swap(staging.path, target)
        except OSError as exc:  # a full disk, an I/O error: the target is as it was
            raise ClaimsetError(f"{target}: the dataset was not written: {os_problem(exc)}") from exc
        finally:
            shutil.rmtree(staging.path, ignore_errors=True)


def is_dataset_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a claimset dataset (its record, or the tables of one written before 0.2)."""
    return (folder / "claimset.json").is_file() or (folder / "documents.parquet").is_file()


def _writable_target(target: Path) -> Path:
    """The real folder ``target`` names, if a dataset may be written there; else a one-line error."""
    try:
        real = target.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of symbolic links
        raise ClaimsetError(f"{target}: cannot find the folder it names ({exc})") from exc
    if real.exists() and not real.is_dir():
        raise ClaimsetError(f"{target}: exists and is not a folder; give a folder for the dataset")
    if real.parent == real:
        raise ClaimsetError(f"{target}: is the root folder; give a folder for the dataset")
    if real.is_dir() and not is_dataset_folder(real) and any(real.iterdir()):
        raise ClaimsetError(f"{target}: holds files but no claimset dataset; give a new, empty or dataset folder")
    if real.is_dir() and not _can_write(real):
        raise ClaimsetError(f"{target}: this user cannot write the folder (read-only, or another user's); "
                            "make it writable to replace it")
    return real


def _can_write(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _take_mode(staging: Path, target: Path) -> None:
    """Give the staging folder the target's permissions and group, or the umask's for a new folder."""
    if target.is_dir():
        info = target.stat()
        os.chmod(staging, stat.S_IMODE(info.st_mode))
        with contextlib.suppress(PermissionError):
            os.chown(staging, -1, info.st_gid)
    else:
        os.chmod(staging, 0o777 & ~current_umask())


_HELD: set[Path] = set()  # targets whose lock this process holds through hold_folders()


@contextmanager
def hold_folders(*targets: Path) -> Iterator[None]:
    """Hold the write locks of several dataset folders for a multi-folder update (``claimset build``).

    Every lock is taken before the body runs, so a concurrent writer of any of them fails before
    anything changes; :func:`replace_folder` inside the body reuses the held lock. Each folder is still
    swapped on its own: a crash between two swaps leaves the first one newer than the second.
    """
    resolved = [_writable_target(target) for target in targets]
    with ExitStack() as stack:
        for target in sorted(set(resolved)):
            stack.enter_context(_exclusive(target))
            _HELD.add(target)
            stack.callback(_HELD.discard, target)
        yield


@contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    if target in _HELD:  # held for this process by hold_folders()
        yield
        return
    lock_path = _lock_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = _lock(lock_path)
    except OSError as exc:
        where = exc.filename or target.parent
        raise ClaimsetError(f"{target}: cannot write here: {where}: {exc.strerror}") from exc
    if fd is None:
        raise ClaimsetError(f"{target}: another claimset process is writing this dataset; "
                            "run again when it has finished")
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # while still held: the next writer creates a fresh one
        os.close(fd)


def _lock(lock_path: Path) -> int | None:
    """An fd holding an exclusive flock on ``lock_path``, or None if another process holds it."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # a link is refused, not followed
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder we waited for removed this file: lock the new one


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _old_name(target: Path, staging: Path) -> Path:
    """Where the two-rename fallback of :func:`_swap` puts the previous generation meanwhile."""
    return target.with_name(f".{target.name}.old-{staging.name.rsplit('-', 1)[-1]}")


def _record_leftovers(target: Path, paths: list[Path]) -> None:
    """Write into the lock file (held) the folders this writer may leave if it is killed.

    Only folders named there are removed by the next writer: a user's own ``.NAME.old-2026-11-25``
    backup or ``.NAME.staging-x`` folder beside the dataset is never touched.
    """
    _lock_path(target).write_text("".join(f"{path.name}\n" for path in paths), encoding="utf-8")


def _recorded_leftovers(target: Path) -> list[Path]:
    try:
        names = _lock_path(target).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    prefix = f".{target.name}."
    return [target.parent / name for name in names
            if name.startswith((prefix + "staging-", prefix + "old-")) and "/" not in name]


def _recover(target: Path) -> None:
    """Undo what a killed writer left (the folders it recorded in the lock file): put back an old folder a
    crash left out, drop its staging folder."""
    leftovers = [path for path in _recorded_leftovers(target) if path.is_dir() and not path.is_symlink()]
    old = [path for path in leftovers if path.name.startswith(f".{target.name}.old-")]
    if old and not target.exists():
        os.rename(old[-1], target)
        leftovers.remove(old[-1])
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def _carry_over(target: Path, staging: Path, generated: Collection[str]) -> None:
    """Link into ``staging`` every entry of ``target`` the new generation did not write (files of other tools)."""
    if not target.is_dir():
        return
    for entry in target.iterdir():
        destination = staging / entry.name
        if destination.exists() or entry.name.startswith(".") or entry.name in generated:
            continue
        if entry.is_dir():
            shutil.copytree(entry, destination, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(destination))


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _swap(staging: Path, target: Path) -> None:
    """Make ``staging`` the target; afterwards ``staging`` holds the previous target, if there was one."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        return
    old = _old_name(target, staging)
    os.rename(target, old)  # a crash right after this leaves no target: _recover puts ``old`` back
    os.rename(staging, target)
    os.rename(old, staging)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with renameat2(RENAME_EXCHANGE); False where the system lacks it."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))
