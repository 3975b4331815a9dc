"""Reading Label Studio full-JSON exports: the top-level list of tasks, streamed one task at a time.

Each task's end is found by msgspec, which skips one JSON value in C without building objects,
and each task is decoded on its own with ``orjson``, so memory holds one chunk plus the task being
decoded however long the export. Where msgspec cannot tell where a task ends (the end of the
buffer, anything it refuses), the rest of the buffer is split by the exact vectorised byte scan
(numpy, the idea of simdjson's first stage), so tasks, values and errors are those of the scan alone.
Every problem is a one-line :class:`~claimset.errors.ClaimsetError` naming the file and the task.
"""

from __future__ import annotations

import json
import os
import re
from bisect import bisect_left
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import msgspec
import numpy as np
import orjson

from claimset.errors import ClaimsetError

READ_CHUNK = 2 << 20  # bytes read at a time by read_tasks

# Byte classes for the structural scan of the top-level array: +1 opens, -1 closes, 2 separates.
_STRUCTURE = np.zeros(256, dtype=np.int8)
_STRUCTURE[[ord("{"), ord("[")]] = 1
_STRUCTURE[[ord("}"), ord("]")]] = -1
_STRUCTURE[ord(",")] = 2
# bytes.translate table for the same scan: 1 structural byte, 2 ASCII digit, 3 quote, 4 backslash, 0 other
_SCAN_BYTES = bytes(1 if code in b"{}[]," else 2 if code in b"0123456789" else 3 if code == 0x22
                    else 4 if code == 0x5C else 0 for code in range(256))
# orjson reads an integer below -2**63 as a float from 19 digits on, one above 2**64 - 1 from 20 on
_LONG_DIGITS = b"\x02" * 19
_NOT_DIGIT = re.compile(b"[^\x02]")
_WHITESPACE = b" \t\r\n"
# msgspec reads one JSON value (as raw bytes, nothing built) and names the first byte after it, plus one
_SKIP_VALUE = msgspec.json.Decoder(msgspec.Raw)
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")
_TASK_ENDS = b",]"  # what may follow a task in the list
SKIP_WITH_MSGSPEC = True  # False: split every buffer with the byte scan alone (tests compare the two)


class ReadTask(NamedTuple):
    """One task of an export, decoded, with where it came from."""

    value: Any  # the decoded task: Python objects, or the typed decoder's structs when ``typed``
    typed: bool  # decoded by the typed decoder given to read_export
    lone_surrogate: bool  # it holds a lone surrogate (see has_lone_surrogate); never when typed
    raw: memoryview  # its bytes (white space around it included); valid until the next task is read
    offset: int  # the file offset of raw[0]
    number: int  # its position in the list, from 0
    stamp: FileStamp  # the export file as it was opened (see file_stamp)


# An open file's device, inode, size, and modification and change times in ns: a write changes it (one through a
# shared memory map only at write-back, see _read).
FileStamp = tuple[int, int, int, int, int]


def file_stamp(handle: BinaryIO) -> FileStamp:
    """The :data:`FileStamp` of an open file."""
    status = os.fstat(handle.fileno())
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


def _read(handle: BinaryIO, size: int, path: Path, stamp: FileStamp) -> bytes:
    """Read up to ``size`` bytes (-1: all the rest); a one-line ClaimsetError if the file changed since ``stamp``.

    The check is the file's times and size, which every ``write`` changes: a writer that changes the file
    only through a shared memory map, whose times the kernel updates at write-back, is not seen.
    """
    data = handle.read(size)
    if file_stamp(handle) != stamp:
        raise ClaimsetError(f"{path}: the file changed while it was being read")
    return data


# Decodes a task's bytes into typed structs, or returns None: see read_export.
TypedDecoder = Callable[[memoryview], Any]
# what a round over one buffer hands back: where the next task starts, its index, and the closing bracket if seen
_Round = Generator[ReadTask, None, tuple[int, int, int | None]]


def _item_bounds(buf: bytes, start: int) -> tuple[list[int], int | None, list[int]]:
    """Scan ``buf[start:]``, which begins at an item of the top-level array, outside any string.

    Returns the positions of the separators that end complete items (commas at the array's own
    depth), the position of the array's closing bracket if it is in ``buf``, and where runs of 19
    or more digits start (numbers orjson would not read exactly, see :func:`_decode`). Vectorised
    (numpy over bytes, the idea of simdjson's first stage): quotes preceded by an odd run of
    backslashes are escaped; brackets and commas between unescaped quotes are inside strings.
    """
    view = np.frombuffer(buf, dtype=np.uint8)[start:]
    # one bytes.translate (C, one pass) classifies every byte, see _SCAN_BYTES
    scanned = buf.translate(_SCAN_BYTES)
    codes = np.frombuffer(scanned, dtype=np.uint8)[start:]
    candidates = np.flatnonzero((codes & 1).view(np.bool_))  # structural bytes (1) and quotes (3), in order
    candidate_codes = codes[candidates]
    is_quote = candidate_codes == 3
    slashes = np.flatnonzero(codes == 4)
    if slashes.size:
        follow = slashes + 1
        follow = follow[follow < codes.size]
        after_slash = follow[codes[follow] == 3]  # quotes right after a backslash
        if after_slash.size:
            run_starts = slashes[np.diff(slashes, prepend=-2) != 1]
            run_start = run_starts[np.searchsorted(run_starts, after_slash - 1, side="right") - 1]
            escaped = after_slash[(after_slash - run_start) % 2 == 1]
            if escaped.size:
                is_quote[np.searchsorted(candidates, escaped)] = False
    # a structural byte is outside strings when an even number of (unescaped) quotes precede it
    outside = np.bitwise_xor.accumulate(is_quote.view(np.uint8)) == 0  # parity of the quotes so far
    marks = candidates[(candidate_codes == 1) & outside]
    kinds = _STRUCTURE[view[marks]]
    depth = np.cumsum(np.where(kinds == 2, 0, kinds), dtype=np.int64)
    closed = np.flatnonzero(depth < 0)
    close = int(marks[closed[0]]) + start if closed.size else None
    separators = marks[(kinds == 2) & (depth == 0)]
    if closed.size:
        separators = separators[separators < marks[closed[0]]]
    return (separators + start).tolist(), close, _long_digit_runs(scanned, start)


def _long_digit_runs(scanned: bytes, start: int) -> list[int]:
    """Where the runs of 19 or more ASCII digits of ``buf[start:]`` start (a run cut by ``start`` starts there).

    ``scanned`` is ``buf`` translated by :data:`_SCAN_BYTES` (digits are byte 2); the runs are found
    with ``bytes.find`` of 19 digit bytes: the leftmost match in a run is its start.
    """
    runs: list[int] = []
    position = scanned.find(_LONG_DIGITS, start)
    while position != -1:
        runs.append(position)
        run_end = _NOT_DIGIT.search(scanned, position)
        if run_end is None:
            break
        position = scanned.find(_LONG_DIGITS, run_end.start())
    return runs


def _decode(raw: bytes | memoryview, long_numbers: bool) -> tuple[Any, bool]:
    """One item of the array, and whether it holds a lone surrogate.

    orjson reads integers beyond 64 bits as floats and refuses lone surrogates; the standard
    library reads both exactly (as the reference decoder does), so it takes those items. Only its
    items can hold lone surrogates, so only they are checked (see :func:`has_lone_surrogate`).
    """
    if not long_numbers:
        try:
            return orjson.loads(raw), False
        except orjson.JSONDecodeError:
            pass
    item = json.loads(bytes(raw), parse_constant=_reject_constant)
    return item, has_lone_surrogate(item)


def has_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds a lone surrogate, which is not Unicode text.

    JSON lets a string escape half of a UTF-16 pair (``"\\ud800"``); such a string cannot be written as UTF-8.
    """
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_tasks(path: Path, on_read: Callable[[int], None] | None = None) -> Iterator[Any]:
    """Stream the tasks of a Label Studio full-JSON export; errors are one-line ClaimsetErrors.

    msgspec finds where each item of the top-level array ends (the vectorised scan of
    :func:`_item_bounds` where it cannot tell), and each item is decoded on its own with orjson;
    memory holds one chunk plus the item being decoded, however long the export.
    """
    for task, _ in scan_tasks(path, on_read):
        yield task


def _first_byte(handle: BinaryIO, path: Path) -> int:
    """The offset of the first byte of JSON in the file: after a UTF-8 byte order mark and white space."""
    offset = 0
    chunk = handle.read(4096)
    if chunk.startswith(b"\xef\xbb\xbf"):
        offset, chunk = 3, chunk[3:]
    while chunk:
        stripped = chunk.lstrip(_WHITESPACE)
        if stripped:
            return offset + len(chunk) - len(stripped)
        offset += len(chunk)
        chunk = handle.read(READ_CHUNK)
    raise ClaimsetError(f"{path}: empty file, expected a Label Studio JSON export")


def scan_tasks(path: Path, on_read: Callable[[int], None] | None = None) -> Iterator[tuple[Any, bool]]:
    """:func:`read_tasks`, with each task whether it holds a lone surrogate (see :func:`has_lone_surrogate`)."""
    for task in read_export(path, on_read):
        yield task.value, task.lone_surrogate


def read_export(path: Path, on_read: Callable[[int], None] | None = None,
                typed: TypedDecoder | None = None) -> Iterator[ReadTask]:
    """The tasks of an export with their bytes and offsets (:class:`ReadTask`); errors as :func:`read_tasks`.

    ``typed``, if given, is tried first on each task without a run of 19 or more digits; it must
    return None for any task it does not decode, and decode only tasks the general decoder reads
    too (``tests/test_typed.py`` checks :func:`claimset.typed.decode`), so that the tasks the
    general decoder refuses, and so the errors, are the same with it or without it.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ClaimsetError(f"{path}: cannot read export: {exc.strerror}") from exc
    with handle:
        stamp = file_stamp(handle)  # every read below checks that the file is still this one
        start = _first_byte(handle, path)
        try:
            handle.seek(start)  # and tasks are read again from their offsets (see reread_task)
        except OSError as exc:
            raise ClaimsetError(f"{path}: cannot read export: it is not a file that can be read again (a pipe?); "
                                "save it to a file first") from exc
        buf = _read(handle, READ_CHUNK, path, stamp)
        if on_read is not None:
            on_read(start + len(buf))
        if buf[:1] == b"{":
            raise ClaimsetError(f"{path}: not a Label Studio JSON export: expected a list of tasks, found an object")
        if buf[:1] != b"[":
            raise ClaimsetError(f"{path}: not JSON (a CSV or other export?); expected a Label Studio JSON export")
        yield from _scan(handle, path, buf, start, on_read, typed, stamp)


def _scan(handle: BinaryIO, path: Path, buf: bytes, base: int, on_read: Callable[[int], None] | None,
          typed: TypedDecoder | None, stamp: FileStamp) -> Iterator[ReadTask]:
    """The items of the list that opens at ``buf[0]``; ``base`` is the file offset of ``buf``.

    Each buffer is read as far as msgspec finds tasks followed by ',' (:func:`_skipped_tasks`); the
    rest of it by the byte scan (:func:`_scanned_tasks`), which reads exactly what the scan alone would
    have read, so the buffers, and with them the errors and the progress reported, are the same.
    """
    pos = 1
    index = 0
    eof = len(buf) < READ_CHUNK
    while True:
        round_start = pos
        close = None
        if SKIP_WITH_MSGSPEC:
            pos, index, close = yield from _skipped_tasks(buf, base, pos, index, typed, stamp)
        if close is None:
            pos, index, close = yield from _scanned_tasks(path, buf, base, pos, index, typed, stamp)
        if close is not None:
            _check_after_list(handle, path, buf[close + 1 :], eof, on_read, stamp)
            return
        if eof:
            raise ClaimsetError(f"{path}: truncated or invalid JSON: the file ends inside task {index}")
        # an item longer than what is buffered doubles the read, so rescans stay linear overall
        read_size = READ_CHUNK if pos > round_start else max(READ_CHUNK, 2 * (len(buf) - pos))
        chunk = _read(handle, read_size, path, stamp)
        if on_read is not None:
            on_read(len(chunk))
        eof = len(chunk) < read_size
        base += pos
        buf = buf[pos:] + chunk
        pos = 0


def _skipped_tasks(buf: bytes, base: int, pos: int, index: int, typed: TypedDecoder | None,
                   stamp: FileStamp) -> _Round:
    """The tasks from ``buf[pos]`` on whose ends msgspec finds, each followed by ',' or by the list's ']'.

    Stops, handing back where, at the first task it cannot end for sure (the buffer ends inside it,
    msgspec or the decoder refuses it, or something other than ',' or ']' follows it) or that is an
    error: the byte scan takes the rest of the buffer from there and gives the scan's task, or error,
    for it. The tasks before are valid JSON, so the scan from there finds what it finds from the
    buffer's start (the same separators, the same closing bracket, checked first).
    """
    view = memoryview(buf)
    scanned = b""  # buf translated by _SCAN_BYTES once a task ends in it: digits are byte 2
    while True:
        end = _value_end(view, pos)
        if end is None or buf[end] not in _TASK_ENDS:
            return pos, index, None
        raw = view[pos:end]
        scanned = scanned or buf.translate(_SCAN_BYTES)
        # a run of 19 digits sends the task to the standard library, as in the byte scan
        long_numbers = scanned.find(_LONG_DIGITS, pos, end) != -1
        fast = _typed_task(typed, raw, long_numbers, base + pos, index, stamp)
        if fast is not None:
            yield fast
        else:
            try:
                task, lone_surrogate = _decode(raw, long_numbers)
            except (ValueError, RecursionError):
                return pos, index, None
            if _from_json_min(index, task):
                return pos, index, None  # the scan raises, after checking the list's closing bracket as ever
            yield ReadTask(task, False, lone_surrogate, raw, base + pos, index, stamp)
        index += 1
        pos = end + 1
        if buf[end] == ord("]"):
            return pos, index, end


def _value_end(view: memoryview, pos: int) -> int | None:
    """Where the first byte other than white space after the JSON value at ``view[pos:]`` is, per msgspec.

    None when msgspec cannot say: the value, or what follows it, is not in ``view`` yet, or msgspec
    refuses the value (its other messages do not say where the value ends, and some are wrong about
    complete values: a lone surrogate escape is "truncated").
    """
    try:
        _SKIP_VALUE.decode(view[pos:])
    except msgspec.DecodeError as exc:
        trailing = _TRAILING.search(str(exc))
        return pos + int(trailing.group(1)) - 1 if trailing else None
    except RecursionError:
        return None
    return None


def _scanned_tasks(path: Path, buf: bytes, base: int, pos: int, index: int, typed: TypedDecoder | None,
                   stamp: FileStamp) -> _Round:
    """The tasks from ``buf[pos]`` on that the byte scan finds complete in ``buf`` (see :func:`_item_bounds`)."""
    separators, close, long_starts = _bounds_after(buf, pos)
    if close is not None and buf[close] != ord("]"):
        raise ClaimsetError(f"{path}: invalid JSON: '{chr(buf[close])}' at byte {base + close} closes the "
                            "list of tasks; expected ']'")
    ends = [*separators, close] if close is not None else separators
    view = memoryview(buf)
    for end in ends:
        raw = view[pos:end]
        if end == close and index == 0 and not bytes(raw).strip(_WHITESPACE):
            break  # an empty export: []
        long_numbers = bool(long_starts) and bisect_left(long_starts, pos) < bisect_left(long_starts, end)
        fast = _typed_task(typed, raw, long_numbers, base + pos, index, stamp)
        yield fast if fast is not None else decode_task(raw, base + pos, index, long_numbers, path, stamp)
        index += 1
        pos = end + 1
    return pos, index, close


def _typed_task(typed: TypedDecoder | None, raw: memoryview, long_numbers: bool, offset: int, number: int,
                stamp: FileStamp) -> ReadTask | None:
    """The task as the typed decoder reads it, or None: no typed decoder, a run of 19+ digits, or it refused."""
    task = None if typed is None or long_numbers else typed(raw)
    return None if task is None else ReadTask(task, True, False, raw, offset, number, stamp)


def _bounds_after(buf: bytes, pos: int) -> tuple[list[int], int | None, list[int]]:
    """:func:`_item_bounds` of ``buf`` from ``pos``, scanning only ``buf[pos:]`` (it translates all of its ``buf``)."""
    if pos == 0:
        return _item_bounds(buf, 0)
    separators, close, long_starts = _item_bounds(buf[pos:], 0)
    return ([at + pos for at in separators], None if close is None else close + pos,
            [at + pos for at in long_starts])


def _from_json_min(index: int, task: Any) -> bool:
    """Whether this is a first task with neither 'data' nor 'annotations': a JSON-MIN export's."""
    return index == 0 and isinstance(task, dict) and "data" not in task and "annotations" not in task


def _check_first_task(path: Path, index: int, task: Any) -> None:
    """A JSON-MIN export is refused (see :func:`_from_json_min`)."""
    if _from_json_min(index, task):
        raise ClaimsetError(
            f"{path}: task 0 has no 'data' or 'annotations': not a Label Studio full JSON export "
            "(JSON-MIN? export with the JSON format)"
        )


def _check_after_list(handle: BinaryIO, path: Path, rest: bytes, eof: bool,
                      on_read: Callable[[int], None] | None, stamp: FileStamp) -> None:
    """Only white space may follow the list's closing bracket: ``rest`` of the buffer and what is left to read."""
    tail = b"" if eof else _read(handle, -1, path, stamp)
    if on_read is not None and tail:
        on_read(len(tail))
    if (rest + tail).strip(_WHITESPACE):
        raise ClaimsetError(f"{path}: invalid JSON: data after the end of the list of tasks")


def decode_task(raw: memoryview, offset: int, number: int, long_numbers: bool, path: Path,
                stamp: FileStamp) -> ReadTask:
    """Task ``number`` of the export at ``path``, from its bytes ``raw`` at ``offset``, by the general decoder.

    A one-line ClaimsetError if it is not JSON, or if it is the first task and not a full-JSON export's.
    """
    try:
        task, lone_surrogate = _decode(raw, long_numbers)
    except (ValueError, RecursionError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else "cannot decode"
        raise ClaimsetError(f"{path}: invalid JSON in task {number}: {message}") from exc
    _check_first_task(path, number, task)
    return ReadTask(task, False, lone_surrogate, raw, offset, number, stamp)


def decode_general(item: ReadTask, path: Path) -> Any:
    """The task of a typed :class:`ReadTask` as the general decoder reads it (Python objects)."""
    return decode_task(item.raw, item.offset, item.number, False, path, item.stamp).value


def changed_while_imported(path: Path, offset: int) -> ClaimsetError:
    """The error for an export whose task at ``offset`` is no longer what was read from it."""
    return ClaimsetError(f"{path}: the file changed while it was being imported (the task at byte {offset})")


def reread_task(path: Path, offset: int, length: int, stamp: FileStamp) -> Any:
    """The task of ``path`` that :func:`read_export` gave at ``offset`` with ``length`` bytes, decoded again.

    A one-line ClaimsetError when the file is not the one read then (``stamp``: another file, or one
    written since, whatever it wrote) or the bytes there no longer hold a task.
    """
    try:
        with path.open("rb") as handle:
            if file_stamp(handle) != stamp:
                raise changed_while_imported(path, offset)
            handle.seek(offset)
            raw = handle.read(length)
    except OSError as exc:
        raise ClaimsetError(f"{path}: cannot read the export again: {exc.strerror}") from exc
    if len(raw) != length:
        raise changed_while_imported(path, offset)
    try:
        return _decode(raw, raw.translate(_SCAN_BYTES).find(_LONG_DIGITS) != -1)[0]
    except (ValueError, RecursionError) as exc:
        raise changed_while_imported(path, offset) from exc
