"""The export reader's two ways of splitting the list of tasks give the same tasks, flags, errors and progress.

``claimset.reader`` finds where each task ends with msgspec and hands the rest of a buffer to the
vectorised byte scan where msgspec cannot tell; ``reader.SKIP_WITH_MSGSPEC = False`` splits every
buffer with the byte scan alone, as the reader did before. Both are run here on random and hostile
exports, read in chunks of many sizes (``READ_CHUNK`` patched): the tasks (compared by ``repr`` too,
so 1, 1.0 and True differ), the lone-surrogate flags, the one-line error and every progress report
must be identical. The same holds with the import's typed decoder (``claimset.typed``) tried first:
the tasks it decodes, decoded again by the general decoder, are the tasks read without it.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import pytest

import claimset.reader as reader
from claimset import typed
from claimset.errors import ClaimsetError

Outcome = tuple[str, str, list[int]]

STRING_PIECES = ['"', "\\", "[", "]", "{", "}", ",", ":", "a", "é", "😀", " ", "\n", '\\"', "\\\\", ",]", "},",
                 "\ud800", "\udc00", "1234567890123456789", "0"]
NUMBERS = [0, 1, -2.5, 0.1, 1e300, -0.0, 10**30, 2**64, -(2**63) - 1, 2**63, 1234567890123456789,
           12345678901234567890, True, False, None]
# bytes a mutation writes: structure, white space, number characters, invalid UTF-8 and a surrogate's lead byte
HOSTILE_BYTES = [*b'[]{}",:\\ \n\t0123456789-+.eE', 0xFF, 0xED, 0xA0, 0x80, 0xC3, 0xEF, 0xBB, 0xBF, 0x00]


DECODER = typed.decoder_for("text")
assert DECODER is not None
TYPED = functools.partial(typed.decode, DECODER)


def outcome(path: Path, skip: bool, monkeypatch: pytest.MonkeyPatch, with_typed: bool = False) -> Outcome:
    """What the reader gives for ``path``: its tasks and flags, or its error; with every progress report.

    ``with_typed``: the typed decoder is tried first, and each task it decoded is decoded again from its
    bytes by the general decoder.
    """
    monkeypatch.setattr(reader, "SKIP_WITH_MSGSPEC", skip)
    reads: list[int] = []
    tasks: list[tuple[Any, bool]] = []
    try:
        for task in reader.read_export(path, reads.append, TYPED if with_typed else None):
            if task.typed:
                task = reader.decode_task(task.raw, task.offset, task.number, False, path, task.stamp)
            tasks.append((task.value, task.lone_surrogate))
    except ClaimsetError as exc:
        return "error", str(exc), reads
    return "tasks", repr(tasks), reads


def assert_same(path: Path, data: bytes, chunk: int, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    path.write_bytes(data)
    monkeypatch.setattr(reader, "READ_CHUNK", chunk)
    new = outcome(path, True, monkeypatch)
    old = outcome(path, False, monkeypatch)
    assert new == old, (data[:300], chunk)
    for skip in (True, False):
        assert outcome(path, skip, monkeypatch, with_typed=True) == old, (data[:300], chunk, skip)
    return new


def random_string(rng: random.Random) -> str:
    return "".join(rng.choice(STRING_PIECES) for _ in range(rng.randrange(0, 8)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        return rng.choice([random_string(rng), rng.choice(NUMBERS)])
    if roll < 0.65:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {random_string(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def random_task(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(NUMBERS)  # a task that is a bare number, string or list: the reader still splits it
    if roll < 0.15:
        return [random_value(rng)]
    if roll < 0.2:
        return {"id": rng.randrange(100)}  # JSON-MIN-like when first
    if roll < 0.5:  # one the typed decoder takes, unless a string or the junk has a lone surrogate
        text = random_string(rng) if rng.random() < 0.3 else "".join(rng.choices(STRING_PIECES[:-4], k=5))
        return {"data": {"text": text, "doc_id": "d"}, "id": rng.randrange(100),
                "annotations": [{"id": rng.randrange(9), "result": [], "completed_by": rng.choice(NUMBERS)}],
                "junk": random_value(rng) if rng.random() < 0.3 else rng.choice(NUMBERS)}
    return {"data": {"text": random_string(rng)}, "annotations": [random_value(rng)]}


def random_export(rng: random.Random) -> bytes:
    """A list of tasks written as json.dump writes it (compact, spaced or indented), in UTF-8 with lone surrogates."""
    tasks = [random_task(rng) for _ in range(rng.randrange(0, 7))]
    indent = rng.choice([None, None, 1, 2, "\t"])
    separators = None if indent is not None else rng.choice([(",", ":"), (", ", ": "), (" ,\n ", " : ")])
    text = json.dumps(tasks, ensure_ascii=rng.random() < 0.4, indent=indent, separators=separators)
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate unescaped is three bytes no decoder accepts
    prefix = rng.choice([b"", b"", b" \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\t"])
    return prefix + data + rng.choice([b"", b"", b"\n", b" \r\n "])


def mutate(rng: random.Random, data: bytes) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(mutated) + 1)
        op = rng.choice(["replace", "insert", "delete", "truncate", "append"])
        byte = rng.choice(HOSTILE_BYTES)
        if op == "replace" and at < len(mutated):
            mutated[at] = byte
        elif op == "insert":
            mutated.insert(at, byte)
        elif op == "delete" and at < len(mutated):
            del mutated[at]
        elif op == "truncate":
            del mutated[at:]
        elif op == "append":
            mutated += bytes(rng.choice(HOSTILE_BYTES) for _ in range(rng.randrange(1, 4)))
    return bytes(mutated)


def chunk_sizes(rng: random.Random, size: int) -> list[int]:
    return [rng.choice([1, 2, 3, 5, 8, 13, 64, 100]), rng.randrange(1, size + 2), 1 << 20]


def test_random_and_mutated_exports_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(17)
    export = tmp_path / "export.json"
    kinds: dict[str, int] = {"tasks": 0, "error": 0}
    for round_ in range(700):
        data = random_export(rng)
        if round_ % 2:
            data = mutate(rng, data)
        for chunk in chunk_sizes(rng, len(data)):
            kinds[assert_same(export, data, chunk, monkeypatch)[0]] += 1
    assert min(kinds.values()) > 300, kinds  # both valid and broken exports were compared


def tricky_export() -> bytes:
    """Three tasks with '}', ']', ',' and quotes in strings, a lone surrogate (escaped and raw), long numbers."""
    tasks = [{"data": {"text": 'a "},{" ], \\ b'}, "annotations": [{"result": [{"v": ",]}"}], "n": 2**64}]},
             {"data": {"text": "\ud800 lone", "n": -(2**63) - 1}, "annotations": []},
             {"data": {"text": "😀 end ,"}, "annotations": [1, 2.5, [3]], "last": 1234567890}]
    escaped = json.dumps(tasks).encode()
    raw = json.dumps(tasks[1:], ensure_ascii=False, indent=2).encode("utf-8", "surrogatepass")
    return escaped[:-1] + b", " + raw[1:]


def test_every_chunk_size_puts_boundaries_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk boundary at every byte: in strings holding '}' or ',', on lone surrogates, on a task's last byte."""
    data = tricky_export()
    export = tmp_path / "export.json"
    for chunk in range(1, len(data) + 2):
        assert assert_same(export, data, chunk, monkeypatch)[0] == "tasks"


def test_truncated_at_every_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tricky_export()
    export = tmp_path / "export.json"
    errors = set()
    for cut in range(len(data)):
        for chunk in (3, 37, 1 << 20):
            kind, message, _ = assert_same(export, data[:cut], chunk, monkeypatch)
            if kind == "error":
                errors.add(message.split(": ", 1)[1])
    assert any("the file ends inside task 2" in error for error in errors), errors
    assert "empty file, expected a Label Studio JSON export" in errors


def test_tasks_longer_than_a_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(4)
    export = tmp_path / "export.json"
    long_text = "".join(rng.choice(STRING_PIECES) for _ in range(3000))
    tasks = [{"data": {"text": long_text[: rng.randrange(3000)]}, "annotations": [random_value(rng)]}
             for _ in range(6)]
    data = json.dumps(tasks, ensure_ascii=False).encode("utf-8", "surrogatepass")
    for chunk in (7, 64, 500, 4096, 20_000):
        assert_same(export, data, chunk, monkeypatch)
        assert_same(export, data[: len(data) // 2], chunk, monkeypatch)
        assert_same(export, data[:-1] + b"}", chunk, monkeypatch)


@pytest.mark.parametrize("depth", [5, 900, 1100, 5000, 60_000])
def test_deep_nesting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int) -> None:
    nested = b"[" * depth + b"1" + b"]" * depth
    export = tmp_path / "export.json"
    for data in (b'[{"data": ' + nested + b"}, 2]", b"[1, " + nested + b"]", b"[" + nested[:-1] + b"]"):
        for chunk in (100, 1 << 20):
            assert_same(export, data, chunk, monkeypatch)


EDGE_CASES = [
    b"", b" \n", b"\xef\xbb\xbf", b"[]", b"[ ]", b"[\n]", b"\xef\xbb\xbf [ \r\n ] \n", b"[", b"[ ", b"[]x", b"[] ]",
    b"[}", b"[ }", b"{}", b"x", b"[1", b"[1,", b"[1]", b"[1 ]", b"[1,2,3]", b"[1,2,3", b"[1,2,34", b"[1]x", b"[1]}",
    b"[1}", b"[,]", b"[1,]", b"[1 2]", b"[-]", b"[tru]", b"[true]", b"[NaN]", b"[1e5]", b"[1.]", b"[01]",
    b"[12345678901234567890]", b"[1234567890123456789, -9223372036854775809]", b'["12345678901234567890"]',
    b'[{"a":1}]', b'[{"a":1},{"b":2}}', b'[{"a":1},{"b":2}', b'[{"a":1} x]', b'[{"data":1}}', b'[{"data":1},]',
    b'[{"data":1},{"data":2}]  \n', b'[{"data":1},{"data":2}] ,', b'[{"data":1}] [2]',
    b'[{"data":"\\ud800"}]', b'[{"data":"\\ud800"} , {"data":1}]', b'[{"data":"\\ud800x"},2}',
    b'[{"data":"\\udc00\\ud800"},{"a":[1,2]}]', b'[{"data":"\xff"}]', b'[{"data":"\xed\xa0\x80"}, 1]',
    b'[{"data":"\xc3"}, {"data":"\xc3\xa9"}]', b'[{"data":"\xff"}, 1}',
    b'[{"data":1}, "\xed\xa0\x80\xff", 2}', b'[{"data":"a\x00b"}]', b'[{"data":"\\x"}]', b'[{"data" 1}]',
    b'[{"data":[1}}]', b'[{"data":1,}]', b'[{"data":"\\"},{"\\\\":"]"}]', b'[{"data":"},{"}, {"a": "],["}]',
    b'[{"data":1}\n,\n{"annotations":[]}\n]', b'[\t{"data":1}\t]', b'[{"data":1}\x0c]',
]


@pytest.mark.parametrize("data", EDGE_CASES)
def test_edge_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    for chunk in (1, 4, 9, 1 << 20):
        assert_same(tmp_path / "export.json", data, chunk, monkeypatch)


def test_msgspec_splits_a_plain_export_without_the_byte_scan(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The byte scan runs once per buffer at most (on a task cut by the buffer's end), not on every task."""
    rng = random.Random(3)
    plain = [piece for piece in STRING_PIECES if piece not in ("\ud800", "\udc00")]
    tasks = [{"data": {"text": "".join(rng.choices(plain, k=20))}, "annotations": [{"id": n, "n": 2**70}]}
             for n in range(200)]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks, ensure_ascii=False, indent=2), encoding="utf-8")
    scans: list[int] = []
    original = reader._item_bounds

    def counting(buf: bytes, start: int) -> tuple[list[int], int | None, list[int]]:
        scans.append(len(buf) - start)
        return original(buf, start)

    monkeypatch.setattr(reader, "_item_bounds", counting)
    assert [task for task, _ in reader.scan_tasks(export)] == tasks
    assert scans == []  # one buffer, every task ended by msgspec
    monkeypatch.setattr(reader, "READ_CHUNK", 4096)
    assert [task for task, _ in reader.scan_tasks(export)] == tasks
    assert 0 < len(scans) <= export.stat().st_size // 4096 + 1
    assert sum(scans) < export.stat().st_size // 4  # only the tails of the buffers were scanned
    scans.clear()
    monkeypatch.setattr(reader, "SKIP_WITH_MSGSPEC", False)
    assert [task for task, _ in reader.scan_tasks(export)] == tasks
    assert len(scans) >= export.stat().st_size // 4096 and sum(scans) >= export.stat().st_size - 1  # the scan alone
