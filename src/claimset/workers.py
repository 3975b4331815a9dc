"""The import's fast path on more than one core: tasks converted in worker processes.

:func:`claimset.typed.convert_tasks` needs nothing but the tasks' bytes and the scheme, so the
importer hands lists of tasks to :class:`Workers`, goes on reading, and takes each list's
:class:`~claimset.typed.Converted` back in the export's order; what depends on earlier tasks
(documents met before, versions of an annotation) stays with the importer. A worker is
``python -I`` started with the importing process's ``sys.path`` (its absolute entries, and the folder
its claimset came from; relative ones such as ``''`` dropped), and ends at once if it finds
another claimset: it runs the same claimset whatever installed it, never the current folder's
files. Workers are started when a list finds none with room, up to the count asked for. Messages
are length-prefixed pickles over the worker's stdin and stdout; only this module writes either end.

A worker that cannot start, dies, or fails on a list costs only time: its lists are converted in
the importing process, by the same function, so the tables are the same in every case.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any, Final, Literal

from claimset import typed
from claimset.convert import SchemeIndex
from claimset.scheme import Scheme

LOST: Final = "lost"  # what Workers.result gives for a list its worker lost or failed on
QUEUED = 4  # lists a worker holds at most: the importer converts a list itself only when the worker is this far behind
PIPE_BYTES = 1 << 20
_LENGTH = struct.Struct("<Q")
# a worker runs the importer's claimset or none: it ends at once if the package found is another one
_START = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
          "from claimset.workers import _package_root, serve; _package_root() == sys.argv[2] or sys.exit(3); serve()")


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _worker_path() -> list[str]:
    """The importing process's ``sys.path`` for a worker: its absolute folders, with the folder its claimset was
    imported from first if it is not among them. Relative ones (``''``, ``src``) are dropped: in a worker they
    would name folders under whatever folder the importer is in now, not the ones it imported from."""
    entries = list(dict.fromkeys(entry for entry in sys.path if os.path.isabs(entry)))
    root = _package_root()
    return entries if root in entries else [root, *entries]


def _package_root() -> str:
    """The folder that holds the claimset package this process runs."""
    import claimset

    return os.path.dirname(os.path.dirname(os.path.abspath(claimset.__file__)))


def _widen(stream: IO[bytes]) -> None:
    """Let the pipe hold a whole list or answer where the system allows (Linux: up to pipe-max-size, 1 MiB by
    default): a thread that has to take the interpreter's lock back for every 64 KiB would make the worker wait."""
    with suppress(ImportError, OSError, AttributeError):
        import fcntl  # not on Windows; F_SETPIPE_SZ only on Linux

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream (or a message cut short)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    size = _LENGTH.unpack(head)[0]
    data = stream.read(size)
    return pickle.loads(data) if len(data) == size else None


def serve() -> None:
    """A worker's loop: the scheme, then (ticket, task bytes) lists; each answered with (ticket, Converted)."""
    import gc

    gc.disable()  # as in the import: many small objects, no cycles
    sys.meta_path.insert(0, _NoPandas())
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    scheme = _receive(source)
    decoder = typed.decoder_for(scheme.text_name)
    assert decoder is not None  # the importer hands out tasks only when there is one
    converter = typed.CleanConverter(SchemeIndex.of(scheme))
    while (message := _receive(source)) is not None:
        ticket, raws = message
        try:
            answer: tuple[int, Any] = (ticket, typed.convert_tasks(decoder, converter, raws))
        except Exception as exc:
            answer = (ticket, exc.__class__.__name__)
        _send(sink, answer)


class _NoPandas(importlib.abc.MetaPathFinder):
    """pyarrow imports pandas on its first ``pa.array``, only to recognise pandas objects: in a worker, which
    converts lists of Python values, that is 30 MB of memory and 0.3 s for nothing; this makes it unavailable."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] == "pandas":
            raise ImportError("pandas is not used in claimset's worker processes")


class _Worker:
    """One worker process, with a thread that writes the lists to it and one that reads its answers.

    The importer never waits on the pipe: while the worker converts one list, the next is written.
    """

    def __init__(self, scheme: Scheme) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _START, json.dumps(_worker_path()), _package_root()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        for stream in (self.stdin, self.stdout):
            _widen(stream)
        self.outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.queued: set[int] = set()
        self.alive = True
        self.outbox.put(scheme)
        threading.Thread(target=self._write, daemon=True).start()

    def _write(self) -> None:
        while (message := self.outbox.get()) is not None:
            try:
                _send(self.stdin, message)
            except OSError:  # it is gone: the reading thread sees the end of its output
                return
        self._close(self.stdin)

    def submit(self, ticket: int, raws: list[bytes]) -> None:
        self.queued.add(ticket)
        self.outbox.put((ticket, raws))

    @staticmethod
    def _close(stream: IO[bytes]) -> None:
        with suppress(OSError):
            stream.close()

    def stop(self, now: bool) -> None:
        """Close its input (it then ends) and wait for it; kill it if it does not end, or at once if ``now``."""
        self.outbox.put(None)
        try:
            if now:
                self.process.kill()
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close(self.stdout)


class Workers:
    """Worker processes converting lists of tasks for one import (see the module's docstring).

    :meth:`submit` gives a list to a worker with room for it and returns a ticket, or None when
    every worker is busy (or there are none): the caller then converts the list itself.
    :meth:`result` returns a ticket's :class:`~claimset.typed.Converted`, waiting for it if asked,
    or :data:`LOST`: the caller converts that list itself too.
    """

    def __init__(self, scheme: Scheme, count: int) -> None:
        self.scheme = scheme
        self.workers: list[_Worker] = []
        self.answers: dict[int, Any] = {}
        self.ready = threading.Condition()
        self.next_ticket = 0
        self.answered = 0  # lists converted by a worker
        self.redone = 0  # lists LOST: their worker was lost or failed on them
        # a frozen application's executable is not a Python interpreter that takes -c
        startable = bool(sys.executable) and not getattr(sys, "frozen", False)
        self.count = count if startable else 0  # started one by one, when needed
        self.cannot_start = False

    def _start(self) -> _Worker | None:
        """One more worker, if the count allows and one can be started."""
        if len(self.workers) >= self.count or self.cannot_start:
            return None
        try:
            worker = _Worker(self.scheme)
        except OSError:
            self.cannot_start = True
            return None
        self.workers.append(worker)
        threading.Thread(target=self._collect, args=(worker,), daemon=True).start()
        return worker

    def _collect(self, worker: _Worker) -> None:
        """Take the worker's answers until its output ends; then it is lost (its lists are LOST)."""
        try:
            while (message := _receive(worker.stdout)) is not None:
                ticket, answer = message
                with self.ready:
                    self.answers[ticket] = answer
                    self.ready.notify_all()
        except Exception:  # an answer that cannot be read: the worker is lost, as at its end
            pass
        finally:
            with self.ready:
                worker.alive = False
                self.ready.notify_all()

    def submit(self, raws: list[memoryview]) -> int | None:
        with self.ready:
            roomy = [worker for worker in self.workers if worker.alive and len(worker.queued) < QUEUED]
        worker = roomy[0] if roomy else self._start()
        if worker is None:
            return None
        ticket = self.next_ticket
        self.next_ticket += 1
        worker.submit(ticket, [bytes(raw) for raw in raws])  # a copy: pickle takes no memoryview
        return ticket

    def result(self, ticket: int, wait: bool) -> typed.Converted | Literal["lost"] | None:
        """The ticket's list converted, or :data:`LOST`; None if it is not back yet and not ``wait``."""
        worker = next(worker for worker in self.workers if ticket in worker.queued)
        with self.ready:
            while ticket not in self.answers and worker.alive and wait:
                self.ready.wait()
            answer = self.answers.pop(ticket, None)
            lost = answer is None and not worker.alive
        if answer is None and not lost:
            return None
        worker.queued.discard(ticket)
        if isinstance(answer, typed.Converted):
            self.answered += 1
            return answer
        self.redone += 1
        return LOST

    def close(self, now: bool = False) -> None:
        """Stop the workers: when they are done, or at once if ``now``."""
        for worker in self.workers:
            worker.stop(now)


@contextmanager
def workers(scheme: Scheme, count: int) -> Iterator[Workers]:
    """:class:`Workers` with ``count`` processes (none for 0), stopped on leaving; killed if it is by an error."""
    pool = Workers(scheme, count)
    try:
        yield pool
    except BaseException:
        pool.close(now=True)
        raise
    pool.close()
