"""The predictions file format: reading JSONL and Parquet, and every way a file can be bad."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from claimset.cli import app
from claimset.errors import ClaimsetError
from claimset.evaluate import load_gold
from claimset.predictions import (
    json_schema,
    json_schema_text,
    load_prediction_records,
    published_json_schema,
    write_predictions,
)
from claimset.scheme import default_scheme
from goldtables import write_gold

ROOT = Path(__file__).resolve().parents[1]
SCHEME = yaml.safe_load((ROOT / "schema" / "scheme.yaml").read_text(encoding="utf-8"))
TEXT = "Lavrov accused the West of meddling."
DOCS = {"doc-1": TEXT}
runner = CliRunner()

RECORD: dict[str, Any] = {
    "doc_id": "doc-1", "claim": {"start": 15, "end": 35}, "speaker": {"start": 0, "end": 6, "entity": "Sergey Lavrov"},
    "cue": {"start": 7, "end": 14}, "targets": [{"start": 15, "end": 23, "entity": "the West", "stance": "against"}],
    "quote_type": "indirect",
}


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_stances_come_from_the_scheme() -> None:
    assert set(default_scheme().stances) == {rel["value"] for rel in SCHEME["relations"] if rel.get("stance")}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    minimal = {"doc_id": "doc-1", "claim": {"start": 0, "end": 6}}
    path = tmp_path / f"pred{suffix}"
    assert write_predictions([RECORD, minimal], path) == 2
    predictions = load_prediction_records(path, DOCS)
    assert predictions.records() == [RECORD, minimal]
    assert len(predictions) == 2
    assert list(predictions.claims["line"]) == [1, 2]
    mentions = predictions.mentions
    assert mentions[mentions["role"] == "target"]["stance"].tolist() == ["against"]
    assert mentions["role"].tolist() == ["claim", "speaker", "cue", "target", "claim"]
    assert mentions["record"].tolist() == [0, 0, 0, 0, 1]


def test_missing_stance_defaults_to_about_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    record = {"doc_id": "doc-1", "claim": {"start": 15, "end": 35}, "targets": [{"start": 15, "end": 23}]}
    path = write_lines(tmp_path / "p.jsonl", "", json.dumps(record), "   ")
    predictions = load_prediction_records(path, DOCS)
    mentions = predictions.mentions
    assert mentions.loc[mentions["role"] == "target", "stance"].tolist() == ["about"]
    assert predictions.claims["line"].tolist() == [2]


QUOTED: dict[str, Any] = {
    "doc_id": "doc-1", "claim": {"quote": "the West of meddling"}, "speaker": {"entity": "Sergey Lavrov"},
    "cue": {"quote": "accused", "prefix": "Lavrov ", "suffix": " the"},
    "targets": [{"quote": "the West", "entity": "the West", "stance": "against"},
                {"entity": "Russia", "stance": "about"}],
}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip_of_quotes_and_entities_alone(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pred{suffix}"
    write_predictions([QUOTED, RECORD], path)
    predictions = load_prediction_records(path, DOCS)
    assert predictions.records() == [QUOTED, RECORD]
    assert predictions.anchored_records()[0] == {
        "doc_id": "doc-1", "line": 1,
        "claim": {"start": 15, "end": 35, "anchoring": "exact"},
        "speaker": {"entity": "Sergey Lavrov"},
        "cue": {"start": 7, "end": 14, "anchoring": "exact"},
        "targets": [{"start": 15, "end": 23, "anchoring": "exact", "entity": "the West", "stance": "against"},
                    {"entity": "Russia", "stance": "about"}],
    }
    assert predictions.anchored_records()[1]["claim"] == {"start": 15, "end": 35, "anchoring": "offsets"}


def test_nulls_are_absent_keys(tmp_path: Path) -> None:
    record = {"doc_id": "doc-1", "claim": {"start": None, "end": None, "quote": "Lavrov", "prefix": None},
              "speaker": {"start": 0, "end": 6, "quote": None, "entity": None}, "cue": None, "targets": None,
              "quote_type": None}
    path = write_lines(tmp_path / "p.jsonl", json.dumps(record))
    assert load_prediction_records(path, DOCS).records() == [
        {"doc_id": "doc-1", "claim": {"quote": "Lavrov"}, "speaker": {"start": 0, "end": 6}}]


def test_quotes_that_do_not_anchor_are_kept_with_the_reason(tmp_path: Path) -> None:
    record = {"doc_id": "doc-1", "claim": {"quote": "the East"}, "targets": [{"quote": "e", "stance": "about"}]}
    path = write_lines(tmp_path / "p.jsonl", json.dumps(record))
    [anchored] = load_prediction_records(path, DOCS).anchored_records()
    assert anchored["claim"] == {"quote": "the East", "anchoring": "not_found", "places": 0}
    assert anchored["targets"] == [{"quote": "e", "anchoring": "ambiguous", "places": 4, "stance": "about"}]


def test_empty_file_is_no_predictions(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "p.jsonl")
    assert len(load_prediction_records(path, DOCS)) == 0


BAD = [
    ("{oops", "1: not JSON"),
    ("[1, 2]", "1: a record must be a JSON object, got list"),
    ('{"doc_id": "doc-1"}', "1: 'claim' is required"),
    ('{"claim": {"start": 0, "end": 6}}', "1: 'doc_id' must be a non-empty string"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "speakr": {}}', "1: unknown key 'speakr'"),
    ('{"doc_id": "doc-1", "claim": {"start": 0}}', "1: 'claim' is missing 'end'"),
    ('{"doc_id": "doc-1", "claim": {"start": "0", "end": 6}}', "1: 'claim.start' must be an integer, got '0'"),
    ('{"doc_id": "doc-1", "claim": {"start": true, "end": 6}}', "1: 'claim.start' must be an integer, got True"),
    ('{"doc_id": "doc-1", "claim": {"start": 0.5, "end": 6}}', "1: 'claim.start' must be an integer, got 0.5"),
    ('{"doc_id": "doc-1", "claim": [0, 6]}', "1: 'claim' must be an object"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "targets": {}}', "1: 'targets' must be a list"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "targets": [{"start": 0, "end": 6, "stance": "hates"}]}',
     "1: targets[0].stance: failed check isin(('against', 'supports', 'about')) (got 'hates')"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "quote_type": "reported"}',
     "1: quote_type: failed check isin(('direct', 'indirect', 'mixed')) (got 'reported')"),
    ('{"doc_id": "doc-1", "claim": {"start": 6, "end": 6}}', "1: claim: failed check start < end"),
    ('{"doc_id": "doc-1", "claim": {"start": -1, "end": 6}}',
     "1: claim.start: failed check greater_than_or_equal_to(0) (got -1)"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "speaker": {"start": 5, "end": 2}}',
     "1: speaker: failed check start < end"),
    ('{"doc_id": "doc-9", "claim": {"start": 0, "end": 6}}', "1: unknown doc_id 'doc-9'"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 37}}',
     "1: claim end 37 is past the end of document 'doc-1' (36 code points)"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "cue": {"start": 0, "end": 99}}', "1: cue end 99 is past"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6, "quote": "Lavrov"}}',
     "1: 'claim' has both start/end and a quote; give one"),
    ('{"doc_id": "doc-1", "claim": {"quote": ""}}', "1: 'claim.quote' must be a string with text in it, got ''"),
    ('{"doc_id": "doc-1", "claim": {"quote": " \\n"}}', "1: 'claim.quote' must be a string with text in it"),
    ('{"doc_id": "doc-1", "claim": {"quote": 7}}', "1: 'claim.quote' must be a string with text in it, got 7"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6, "prefix": "x"}}',
     "1: 'claim.prefix' is only allowed with a quote"),
    ('{"doc_id": "doc-1", "claim": {"quote": "Lavrov", "suffix": 1}}', "1: 'claim.suffix' must be a string, got 1"),
    ('{"doc_id": "doc-1", "claim": {"entity": "Lavrov"}}', "1: 'claim' has unknown key 'entity'"),
    ('{"doc_id": "doc-1", "claim": {}}', "1: 'claim' needs start and end or a quote"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "cue": {"quote": null}}', "1: 'cue' needs start and end or a quote"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "speaker": {}}',
     "1: 'speaker' needs start and end, a quote, or an entity"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "targets": [{"entity": "A"}, {"stance": "against"}]}',
     "1: 'targets[1]' needs start and end, a quote, or an entity"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "speaker": {"entity": ""}}',
     "1: 'speaker.entity' must be a string with text in it, got ''"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "speaker": {"entity": "   "}}',
     "1: 'speaker.entity' must be a string with text in it, got '   '"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "targets": [{"quote": "West", "entity": "\\u3000\\n"}]}',
     "1: 'targets[0].entity' must be a string with text in it, got '\\u3000\\n'"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "speaker": {"entity": 7}}',
     "1: 'speaker.entity' must be a string with text in it, got 7"),
    ('{"doc_id": "doc-1", "claim": {"quote": "\\u0085\\u001c"}}',
     "1: 'claim.quote' must be a string with text in it, got '\\x85\\x1c'"),
    ('{"doc_id": "doc-1", "claim": {"quote": "x"}, "targets": [{"entity": "A", "stance": ""}]}',
     "1: targets[0].stance: failed check isin"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 6}, "targets": [{"start": 30, "end": 40}]}',
     "1: targets[0] end 40 is past the end of document 'doc-1' (36 code points)"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_record(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"doc_id": "doc-1", "claim": {"start": 0, "end": 6}})
    path = write_lines(tmp_path / "p.jsonl", good, line)
    expected = message.replace("1:", "2:", 1)
    with pytest.raises(ClaimsetError, match=f"^{re.escape(f'{path}:{expected}')}") as info:
        load_prediction_records(path, DOCS)
    assert "\n" not in str(info.value)


def test_offsets_are_code_points(tmp_path: Path) -> None:
    text = "“Ça va” 👍 said Zoë."
    record = {"doc_id": "d", "claim": {"start": 1, "end": 6}, "speaker": {"start": len(text) - 4, "end": len(text) - 1}}
    path = write_lines(tmp_path / "p.jsonl", json.dumps(record, ensure_ascii=False))
    assert load_prediction_records(path, {"d": text}).records() == [record]
    bad = {**record, "claim": {"start": 1, "end": len(text) + 1}}
    with pytest.raises(ClaimsetError, match="past the end"):
        load_prediction_records(write_lines(tmp_path / "q.jsonl", json.dumps(bad)), {"d": text})


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ClaimsetError, match="predictions file not found"):
        load_prediction_records(tmp_path / "missing.jsonl", DOCS)
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(ClaimsetError, match="not a readable Parquet file"):
        load_prediction_records(tmp_path / "x.parquet", DOCS)
    (tmp_path / "x.jsonl").write_bytes(b'{"doc_id": "\xff"}\n')
    with pytest.raises(ClaimsetError, match="not UTF-8"):
        load_prediction_records(tmp_path / "x.jsonl", DOCS)


def test_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    write_predictions([RECORD], path)
    with pytest.raises(TypeError, match=r"^Object of type object is not JSON serializable$"):
        write_predictions([RECORD, {"doc_id": object()}], path)
    assert path.read_text(encoding="utf-8") == json.dumps(RECORD) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.jsonl"]


@pytest.mark.parametrize(("content", "message"), [
    ("not json at all", ":1: not JSON"),
    ('{"doc_id": "doc-1", "claim": {"start": 0, "end": 999}}', ":1: claim end 999 is past the end"),
])
def test_cli_bad_file_is_one_line_exit_1(tmp_path: Path, content: str, message: str) -> None:
    gold = write_gold(tmp_path / "gold", DOCS, [RECORD])
    pred = write_lines(tmp_path / "p.jsonl", content)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {pred}{message}"), lines


# --- the published JSON Schema ------------------------------------------------------------------------


def test_the_published_json_schema_is_the_generated_one() -> None:
    generated = json_schema_text()
    assert (ROOT / "src" / "claimset" / "data" / "predictions.schema.json").read_text(encoding="utf-8") == generated, \
        "run 'make predictions-schema'"
    assert (ROOT / "schema" / "predictions.schema.json").read_text(encoding="utf-8") == generated, \
        "run 'make predictions-schema'"
    assert published_json_schema() == json_schema()
    Draft202012Validator.check_schema(json_schema())


def test_the_json_schema_takes_its_vocabularies_from_the_scheme() -> None:
    schema = json_schema()
    assert schema["$defs"]["target"]["properties"]["stance"]["enum"] == [*default_scheme().stances, None]
    assert schema["properties"]["quote_type"]["enum"] == [*default_scheme().allowed_values("quote_type"), None]


def schema_accepts(record: Any) -> bool:
    return Draft202012Validator(json_schema()).is_valid(record)


def loader_accepts(tmp_path: Path, record: Any) -> bool:
    path = write_lines(tmp_path / "p.jsonl", json.dumps(record))
    try:
        load_prediction_records(path, DOCS)
    except ClaimsetError:
        return False
    return True


@pytest.mark.parametrize("record", [RECORD, QUOTED, {"doc_id": "doc-1", "claim": {"quote": "x"}}])
def test_the_json_schema_accepts_good_records(record: dict[str, Any]) -> None:
    assert schema_accepts(record)


# The BAD lines whose flaw is in the record itself (the schema cannot know the documents, nor that start < end).
OUTSIDE_THE_SCHEMA = ("unknown doc_id", "is past", "start < end", "not JSON")


@pytest.mark.parametrize(("line", "message"),
                         [case for case in BAD if not any(m in case[1] for m in OUTSIDE_THE_SCHEMA)])
def test_the_json_schema_refuses_what_the_loader_refuses(line: str, message: str) -> None:
    assert not schema_accepts(json.loads(line)), message


# Characters where ECMAScript's \\s and Python's differ, and others on either side of the line: True when the loader
# reads the character as text (not str.isspace()).
CHARACTERS = [("x", True), ("\U0001f600", True), (" ", False), ("\t", False), ("\r", False), ("\x0b", False),
              ("\x1c", False), ("\x1f", False), ("\x85", False), ("\xa0", False), ("\u1680", False),
              ("\u2000", False), ("\u200a", False), ("\u2028", False), ("\u2029", False), ("\u202f", False),
              ("\u205f", False), ("\u3000", False), ("\ufeff", True), ("\u200b", True), ("\u180e", True),
              ("\u00ad", True), ("\x00", True)]


def _with_character(character: str) -> list[dict[str, Any]]:
    """Records whose quote, or entity, is the character alone or between spaces."""
    return [{"doc_id": "doc-1", "claim": {"quote": quote}} for quote in (character, f" {character}\n")] + \
        [{"doc_id": "doc-1", "claim": {"quote": "x"}, "speaker": {"entity": entity}}
         for entity in (character, f"\t{character} ")]


@pytest.mark.parametrize(("character", "text"), CHARACTERS, ids=[f"U+{ord(c):04X}" for c, _ in CHARACTERS])
def test_the_loader_and_the_json_schema_agree_on_what_is_white_space(tmp_path: Path, character: str,
                                                                       text: bool) -> None:
    assert character.isspace() is not text
    for record in _with_character(character):
        assert (loader_accepts(tmp_path, record), schema_accepts(record)) == (text, text), record


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node, for ECMAScript's regular expressions")
def test_ecmascript_reads_the_pattern_of_the_json_schema_as_python_does() -> None:
    """JSON Schema's patterns are ECMAScript regular expressions: the published one finds text in the same
    strings in node (with and without the u flag) as in Python's re, over every code point of the BMP but the
    surrogates and, beyond it, a few."""
    pattern = json_schema()["$defs"]["claim"]["properties"]["quote"]["pattern"]
    codes = [*range(0xD800), *range(0xE000, 0x10000), 0x10000, 0x1F600, 0x10FFFF]
    script = ("const [pattern, codes] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "for (const flags of ['', 'u']) { const re = new RegExp(pattern, flags);"
              "process.stdout.write(codes.map(c => re.test(String.fromCodePoint(c)) ? '1' : '0').join('') + '\\n'); }")
    result = subprocess.run(["node", "-e", script], input=json.dumps([pattern, codes]), capture_output=True,
                            text=True, check=True)
    in_python = "".join("1" if re.search(pattern, chr(code)) else "0" for code in codes)
    assert in_python == "".join("0" if chr(code).isspace() else "1" for code in codes)
    assert result.stdout.split() == [in_python, in_python]


def _integral(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


def _valid_mention(role: str) -> st.SearchStrategy[dict[str, Any]]:
    offsets = st.fixed_dictionaries({"start": st.integers(0, 3), "end": st.integers(4, len(TEXT))})
    quote = st.fixed_dictionaries({"quote": st.sampled_from(["Lavrov", "the West", "x"])},
                                  optional={"prefix": st.just("accused "), "suffix": st.just("")})
    extra: dict[str, st.SearchStrategy[Any]] = {}
    forms = [offsets, quote]
    if role in ("speaker", "target"):
        extra["entity"] = st.just("A")
        forms.append(st.fixed_dictionaries({"entity": st.just("A")}))
    if role == "target":
        extra["stance"] = st.sampled_from(["against", "about"])
    return st.tuples(st.one_of(forms), st.fixed_dictionaries({}, optional=extra)).map(lambda t: {**t[1], **t[0]})


_FLAWS: dict[str, list[Any]] = {  # per key, values to put in its place (None: the key set to null)
    "doc_id": [None, "", 5], "quote_type": [None, "", "reported", 1], "targets": [None, "x", [None], [{}]],
    "claim": [None, [0, 6], "x", {}], "speaker": [None, "x", {}], "cue": [None, {}],
    "start": [None, -1, 0.5, 2.0, "0", True], "end": [None, 5.5, 9.0, "9"],
    "quote": [None, "", " ", 1, "\ufeff", "\x1c", "\x85"], "prefix": [None, "", 1], "suffix": [None, 1],
    "entity": [None, "", " ", 1, "\ufeff", "\x1f"], "stance": [None, "", "hates", 1],
    "other": [None, 1],
}
RECORD_FIELDS = ["doc_id", "claim", "speaker", "cue", "targets", "quote_type", "other"]
MENTION_FIELDS = ["start", "end", "quote", "prefix", "suffix", "entity", "stance", "other"]


@st.composite
def near_valid_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record in any of the forms, with up to three keys of it or of its mentions changed or removed."""
    record: dict[str, Any] = {"doc_id": "doc-1", "claim": draw(_valid_mention("claim"))}
    for role in ("speaker", "cue"):
        if draw(st.booleans()):
            record[role] = draw(_valid_mention(role))
    if draw(st.booleans()):
        record["targets"] = draw(st.lists(_valid_mention("target"), min_size=1, max_size=2))
    if draw(st.booleans()):
        record["quote_type"] = draw(st.sampled_from(["direct", "indirect"]))
    for _ in range(draw(st.integers(1, 3))):
        mentions = [record[k] for k in ("claim", "speaker", "cue") if isinstance(record.get(k), dict)]
        mentions += [t for t in (record["targets"] if isinstance(record.get("targets"), list) else [])
                     if isinstance(t, dict)]
        part = draw(st.sampled_from([record, *mentions]))
        key = draw(st.sampled_from(RECORD_FIELDS if part is record else MENTION_FIELDS))
        if key in part and draw(st.booleans()):
            del part[key]
        else:
            part[key] = copy.deepcopy(draw(st.sampled_from(_FLAWS[key])))  # {} is mutated later: not the shared one
    return record


def _outside_the_schema(record: dict[str, Any]) -> bool:
    """Flaws only the loader can see: a doc_id of no document, an end past it, start >= end."""
    if isinstance(record.get("doc_id"), str) and record["doc_id"] not in ("", "doc-1"):
        return True
    mentions = [record.get(k) for k in ("claim", "speaker", "cue")]
    mentions += record["targets"] if isinstance(record.get("targets"), list) else []
    return any(isinstance(m, dict) and _integral(m.get("start")) and _integral(m.get("end"))
               and (m["start"] >= m["end"] or m["end"] > len(TEXT)) for m in mentions)


BASES: list[dict[str, Any]] = [  # one record per way of giving spans and entities
    RECORD,
    {"doc_id": "doc-1", "claim": {"quote": "the West of meddling", "prefix": "accused ", "suffix": "."},
     "speaker": {"quote": "Lavrov", "entity": "Sergey Lavrov"}, "cue": {"quote": "accused", "prefix": ""},
     "targets": [{"quote": "the West", "suffix": " of", "stance": "against"}], "quote_type": "direct"},
    {"doc_id": "doc-1", "claim": {"quote": "the West"}, "speaker": {"entity": "Sergey Lavrov"},
     "targets": [{"entity": "the West"}]},
]


def single_flaws() -> list[tuple[str, dict[str, Any]]]:
    """Every base with one key of the record or of one of its mentions set to one of its flaws, or removed."""
    found = []
    for number, base in enumerate(BASES):
        parts: list[tuple[str, list[str]]] = [("", RECORD_FIELDS)]
        parts += [(key, MENTION_FIELDS) for key in ("claim", "speaker", "cue") if key in base]
        parts += [(f"targets.{i}", MENTION_FIELDS) for i in range(len(base.get("targets", [])))]
        for part, keys in parts:
            for key in keys:
                for flaw in [*_FLAWS[key], "<removed>"]:
                    record = json.loads(json.dumps(base))
                    holder = record
                    for step in filter(None, part.split(".")):
                        holder = holder[int(step)] if step.isdigit() else holder[step]
                    if flaw == "<removed>":
                        if key not in holder:
                            continue
                        del holder[key]
                    else:
                        holder[key] = flaw
                    if not _outside_the_schema(record):
                        found.append((f"base {number}: {part or 'record'}.{key} = {flaw!r}", record))
    return found


@pytest.mark.parametrize(("flaw", "record"), single_flaws(), ids=[name for name, _ in single_flaws()])
def test_the_loader_and_the_json_schema_agree_on_every_single_flaw(tmp_path: Path, flaw: str,
                                                                  record: dict[str, Any]) -> None:
    assert loader_accepts(tmp_path, record) == schema_accepts(record), flaw


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(near_valid_records(), st.sampled_from([[], "x", 1, None])))
def test_the_loader_and_the_json_schema_agree_on_several_flaws(tmp_path: Path, record: Any) -> None:
    assume(not isinstance(record, dict) or not _outside_the_schema(record))
    assert loader_accepts(tmp_path, record) == schema_accepts(record), record


def test_the_examples_of_the_documentation_are_one_prediction_in_two_forms(tmp_path: Path) -> None:
    gold = load_gold(ROOT / "annotations" / "gold")
    doc = (ROOT / "docs" / "predictions.md").read_text(encoding="utf-8")
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc, re.S)]
    assert len(examples) == 2 and all(schema_accepts(example) for example in examples)
    path = write_lines(tmp_path / "p.jsonl", *(json.dumps(example) for example in examples))
    by_offsets, by_quotes = load_prediction_records(path, gold.texts, gold.scheme).anchored_records()
    assert by_quotes["speaker"] == {"entity": "Lavrov"}

    def spans(record: dict[str, Any]) -> list[tuple[int, int]]:
        mentions = [record["claim"], record["cue"], *record["targets"]]
        return [(mention["start"], mention["end"]) for mention in mentions]

    assert spans(by_quotes) == spans(by_offsets)
