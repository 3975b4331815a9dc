"""Predicted claims: the file format extractors write, and how it is read, checked, anchored and flattened.

One record per predicted claim (JSON Lines, one object a line; or Parquet, one row a record)::

    {"doc_id": "000_666aa4b0ee0165a8",
     "claim": {"start": 0, "end": 42},
     "speaker": {"start": 50, "end": 61, "entity": "Sergey Lavrov"},
     "cue": {"start": 62, "end": 69},
     "targets": [{"start": 10, "end": 18, "entity": "the West", "stance": "against"}],
     "quote_type": "indirect"}

Only ``doc_id`` and ``claim`` are required. Each span is given either by offsets (``start``/``end``:
Unicode code points into the document text, half-open, exactly as in the gold tables) or by its text,
as a W3C TextQuoteSelector (``{"quote": "…", "prefix": "…", "suffix": "…"}``, prefix and suffix
optional), which :mod:`claimset.quotes` anchors in the document. A speaker or a target may also be
given by its entity alone (``{"entity": "Sergey Lavrov"}``). A target without ``stance`` is ``"about"``.
``null`` is the same as an absent key. See ``docs/predictions.md``; :func:`json_schema` is the format as
a JSON Schema, published as ``claimset/data/predictions.schema.json`` and ``schema/predictions.schema.json``.

:func:`load_prediction_records` returns two flat tables, claims (one row per record) and mentions (one
row per span or entity), validated by pandera models whose allowed values come from the scheme, with
every offset checked against the documents and every quote anchored. Any problem with the file raises
:class:`ClaimsetError` naming ``file:line`` (for Parquet, the 1-based row) and what is wrong; a quote
that cannot be anchored is not a problem with the file, and is reported by ``claimset evaluate``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pandera  # pandera's pandas API; `pa` is pyarrow everywhere in claimset
import pyarrow as pa
import pyarrow.parquet as pq
from pandera.errors import SchemaErrors
from pandera.typing import Series

from claimset.codes import Anchoring
from claimset.errors import LONE_SURROGATE, ClaimsetError, json_problem
from claimset.quotes import DocumentQuotes, has_text
from claimset.reader import has_lone_surrogate
from claimset.scheme import Scheme, default_scheme
from claimset.tables import atomic_path

DEFAULT_STANCE = "about"
JSON_SCHEMA_FILE = "data/predictions.schema.json"  # inside the package; schema/predictions.schema.json is a copy

RECORD_KEYS = frozenset({"doc_id", "claim", "speaker", "cue", "targets", "quote_type"})
ROLES = ("claim", "speaker", "cue", "target")
OFFSET_KEYS = ("start", "end")
QUOTE_KEYS = ("quote", "prefix", "suffix")
MENTION_KEYS: Mapping[str, frozenset[str]] = {
    "claim": frozenset({*OFFSET_KEYS, *QUOTE_KEYS}),
    "speaker": frozenset({*OFFSET_KEYS, *QUOTE_KEYS, "entity"}),
    "cue": frozenset({*OFFSET_KEYS, *QUOTE_KEYS}),
    "target": frozenset({*OFFSET_KEYS, *QUOTE_KEYS, "entity", "stance"}),
}
ENTITY_ONLY = frozenset({"speaker", "target"})  # the roles that may be given by their entity alone


def _mention_struct(*extra: str) -> pa.DataType:
    fields = [("start", pa.int64()), ("end", pa.int64()), *((key, pa.string()) for key in (*QUOTE_KEYS, *extra))]
    return pa.struct(fields)


PREDICTIONS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("claim", _mention_struct()),
        ("speaker", _mention_struct("entity")),
        ("cue", _mention_struct()),
        ("targets", pa.list_(_mention_struct("entity", "stance"))),
        ("quote_type", pa.string()),
    ]
)
"""The Parquet layout of a predictions file (the same nesting as the JSON records; null fields are absent)."""


class PredictedClaimsModel(pandera.DataFrameModel):
    """One row per predicted claim (a record of the file)."""

    record: Series[int] = pandera.Field(ge=0)  # 0-based position of the record in the file
    line: Series[int] = pandera.Field(ge=1)  # JSONL line number, or 1-based Parquet row
    doc_id: Series[str] = pandera.Field(str_length={"min_value": 1})
    quote_type: Series[str] = pandera.Field(nullable=True)  # isin the scheme's quote types: see _schema

    class Config:
        strict = True
        coerce = True


class PredictedMentionsModel(pandera.DataFrameModel):
    """One row per span or entity of a record: its claim, speaker, cue and each target."""

    record: Series[int] = pandera.Field(ge=0)
    line: Series[int] = pandera.Field(ge=1)
    doc_id: Series[str] = pandera.Field(str_length={"min_value": 1})
    role: Series[str] = pandera.Field(isin=ROLES)
    index: Series[int] = pandera.Field(ge=0)  # position in the record's targets; 0 for the other roles
    start: Series[pd.Int64Dtype] = pandera.Field(nullable=True, ge=0)  # given offsets (quotes: see anchor)
    end: Series[pd.Int64Dtype] = pandera.Field(nullable=True, ge=1)
    quote: Series[str] = pandera.Field(nullable=True)  # with text in it: checked when read
    prefix: Series[str] = pandera.Field(nullable=True)
    suffix: Series[str] = pandera.Field(nullable=True)
    entity: Series[str] = pandera.Field(nullable=True, str_length={"min_value": 1})
    stance: Series[str] = pandera.Field(nullable=True)  # isin the scheme's stances: see _schema

    @pandera.dataframe_check(error="start < end")
    @classmethod
    def start_before_end(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return (df[cls.start].isna() | (df[cls.start] < df[cls.end])).astype(bool)

    class Config:
        strict = True
        coerce = True


C = PredictedClaimsModel
M = PredictedMentionsModel
CLAIM_COLUMNS = (C.record, C.line, C.doc_id, C.quote_type)
MENTION_COLUMNS = (M.record, M.line, M.doc_id, M.role, M.index, M.start, M.end, M.quote, M.prefix, M.suffix,
                   M.entity, M.stance)
ANCHORING = "anchoring"  # column added by anchoring: an Anchoring code, null for an entity given alone
PLACES = "places"  # column added by anchoring: QuoteAnchor.places for a quote, null otherwise


def mention_path(role: str, index: int) -> str:
    """Where a mention sits in its record: ``claim``, ``speaker``, ``cue`` or ``targets[i]``."""
    return f"targets[{index}]" if role == "target" else role


@dataclass(frozen=True)
class Predictions:
    """Flat, validated, anchored predictions: ``claims`` (one row per record), ``mentions`` (one per span or
    entity, with :data:`ANCHORING`: how its span was placed, and ``start``/``end`` filled in for anchored quotes)."""

    source: str
    claims: pd.DataFrame
    mentions: pd.DataFrame

    def __len__(self) -> int:
        return len(self.claims)

    def records(self) -> list[dict[str, Any]]:
        """The predictions back as records in the documented format, as the file gave them (file order)."""
        return _records(self.claims, self.mentions, _as_written)

    def anchored_records(self) -> list[dict[str, Any]]:
        """The records ``claimset evaluate`` scores: every span as offsets where it was given or anchored.

        A positioned mention has ``start``, ``end`` and ``anchoring`` (an :class:`Anchoring` code); a quote that
        was not anchored keeps ``quote``/``prefix``/``suffix`` with ``anchoring`` (not_found, ambiguous) and
        ``places``; an entity given alone is ``{"entity"}``. Each record also has its ``line``.
        """
        return _records(self.claims, self.mentions, _as_anchored, with_line=True)


# --- reading --------------------------------------------------------------------------------------


def _raw_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, parsed object) for every record of a JSONL or Parquet predictions file."""
    if not path.is_file():
        raise ClaimsetError(f"{path}: predictions file not found")
    if path.suffix.lower() == ".parquet":
        try:
            rows = pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise ClaimsetError(f"{path}: not a readable Parquet file: {str(exc).splitlines()[0]}") from exc
        for row_number, row in enumerate(rows, start=1):
            yield row_number, {key: value for key, value in row.items() if value is not None}
        return
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ClaimsetError(f"{path}: cannot read predictions: {exc.strerror}") from exc
    with handle:
        try:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ClaimsetError(f"{path}:{line_number}: not JSON: {exc.msg} (column {exc.colno})") from exc
                except (ValueError, RecursionError) as exc:
                    raise ClaimsetError(f"{path}:{line_number}: cannot read: {json_problem(exc)}") from exc
                if "\\u" in line and has_lone_surrogate(record):
                    raise ClaimsetError(f"{path}:{line_number}: {LONE_SURROGATE}")
                yield line_number, record
        except UnicodeDecodeError as exc:
            raise ClaimsetError(f"{path}: not UTF-8 (byte {exc.start})") from exc


def _integral(value: Any) -> int | None:
    """An offset as an int: an integer, or a number with an integral value (``12.0``, the same number in JSON)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, float) and value.is_integer() else None


def _mention(value: Any, role: str, path: str, where: str) -> dict[str, Any]:
    """The mention's keys (nulls dropped), checked for the forms of docs/predictions.md; ``path`` names it."""
    if not isinstance(value, dict):
        raise ClaimsetError(f"{where}: '{path}' must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - MENTION_KEYS[role])
    if unknown:
        raise ClaimsetError(f"{where}: '{path}' has unknown key '{unknown[0]}'")
    mention = {key: item for key, item in value.items() if item is not None}
    offsets = any(key in mention for key in OFFSET_KEYS)
    if offsets and "quote" in mention:
        raise ClaimsetError(f"{where}: '{path}' has both start/end and a quote; give one")
    if offsets:
        _check_offsets(mention, f"{where}: '{path}")
    else:
        _check_quote(mention, f"{where}: '{path}")
    if "entity" in mention and not (isinstance(mention["entity"], str) and has_text(mention["entity"])):
        raise ClaimsetError(f"{where}: '{path}.entity' must be a string with text in it, got {mention['entity']!r}")
    if "stance" in mention and not isinstance(mention["stance"], str):
        raise ClaimsetError(f"{where}: '{path}.stance' must be a string, got {mention['stance']!r}")
    if not offsets and "quote" not in mention and not (role in ENTITY_ONLY and "entity" in mention):
        alone = ", a quote, or an entity" if role in ENTITY_ONLY else " or a quote"
        raise ClaimsetError(f"{where}: '{path}' needs start and end{alone}")
    return mention


def _check_offsets(mention: dict[str, Any], where: str) -> None:
    """Both offsets, integers (made ints in place), and no quote context; ``where`` ends with the quoted path."""
    for key in OFFSET_KEYS:
        if key not in mention:
            raise ClaimsetError(f"{where}' is missing '{key}'")
        if _integral(mention[key]) is None:
            raise ClaimsetError(f"{where}.{key}' must be an integer, got {mention[key]!r}")
        mention[key] = _integral(mention[key])
    for key in ("prefix", "suffix"):
        if key in mention:
            raise ClaimsetError(f"{where}.{key}' is only allowed with a quote")


def _check_quote(mention: Mapping[str, Any], where: str) -> None:
    """A quote with text in it, and string context; or no quote and no context."""
    for key in ("prefix", "suffix"):
        if key in mention and "quote" not in mention:
            raise ClaimsetError(f"{where}.{key}' is only allowed with a quote")
    if "quote" in mention and not (isinstance(mention["quote"], str) and has_text(mention["quote"])):
        raise ClaimsetError(f"{where}.quote' must be a string with text in it, got {mention['quote']!r}")
    for key in ("prefix", "suffix"):
        if key in mention and not isinstance(mention[key], str):
            raise ClaimsetError(f"{where}.{key}' must be a string, got {mention[key]!r}")


def _mention_row(record: int, line: int, doc_id: str, role: str, index: int,
                 mention: Mapping[str, Any]) -> dict[str, Any]:
    stance = mention.get("stance", DEFAULT_STANCE) if role == "target" else None
    return {M.record: record, M.line: line, M.doc_id: doc_id, M.role: role, M.index: index,
            **{key: mention.get(key) for key in (*OFFSET_KEYS, *QUOTE_KEYS, "entity")}, M.stance: stance}


def _flatten(source: str, rows: Iterable[tuple[int, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    claims: list[dict[str, Any]] = []
    mentions: list[dict[str, Any]] = []
    for line, obj in rows:
        where = f"{source}:{line}"
        if not isinstance(obj, dict):
            raise ClaimsetError(f"{where}: a record must be a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - RECORD_KEYS)
        if unknown:
            raise ClaimsetError(f"{where}: unknown key '{unknown[0]}'")
        doc_id = obj.get("doc_id")
        if not isinstance(doc_id, str) or not doc_id:
            raise ClaimsetError(f"{where}: 'doc_id' must be a non-empty string")
        if obj.get("claim") is None:
            raise ClaimsetError(f"{where}: 'claim' is required")
        quote_type = obj.get("quote_type")
        if quote_type is not None and not isinstance(quote_type, str):
            raise ClaimsetError(f"{where}: 'quote_type' must be a string, got {quote_type!r}")
        targets = obj.get("targets")
        targets = [] if targets is None else targets
        if not isinstance(targets, list):
            raise ClaimsetError(f"{where}: 'targets' must be a list")
        record = len(claims)
        claims.append({C.record: record, C.line: line, C.doc_id: doc_id, C.quote_type: quote_type})
        for role in ("claim", "speaker", "cue"):
            if obj.get(role) is not None:
                mention = _mention(obj[role], role, role, where)
                mentions.append(_mention_row(record, line, doc_id, role, 0, mention))
        for index, target in enumerate(targets):
            mention = _mention(target, "target", mention_path("target", index), where)
            mentions.append(_mention_row(record, line, doc_id, "target", index, mention))
    return claims, mentions


def _schema(model: type[pandera.DataFrameModel], scheme: Scheme) -> pandera.DataFrameSchema:
    """The model's schema with the closed vocabularies of ``scheme`` (quote types, stances)."""
    schema = model.to_schema()
    allowed = {C.quote_type: scheme.allowed_values("quote_type")} if model is PredictedClaimsModel \
        else {M.stance: scheme.stances}
    for column, values in allowed.items():
        schema = schema.update_column(column, checks=[*schema.columns[column].checks, pandera.Check.isin(values)])
    return schema


def _validate(model: type[pandera.DataFrameModel], frame: pd.DataFrame, source: str, scheme: Scheme) -> pd.DataFrame:
    try:
        validated: pd.DataFrame = _schema(model, scheme).validate(frame, lazy=True)
        return validated
    except SchemaErrors as exc:
        cases = exc.failure_cases
        case = cases[cases["index"].notna()].head(1)
        if case.empty:
            raise ClaimsetError(f"{source}: {cases.iloc[0]['check']}") from exc
        row = case.iloc[0]
        bad = frame.loc[row["index"]]
        where = f"{source}:{int(bad['line'])}: "
        if M.role in frame.columns:
            where += mention_path(str(bad[M.role]), int(bad[M.index]))
            where += "." if row["schema_context"] == "Column" else ": "
        if row["schema_context"] == "Column":
            got = row["failure_case"]
            got = got.item() if hasattr(got, "item") else got  # a numpy scalar as the Python value
            raise ClaimsetError(f"{where}{row['column']}: failed check {row['check']} (got {got!r})") from exc
        raise ClaimsetError(f"{where}failed check {row['check']}") from exc


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype(object)


def _check_documents(source: str, claims: pd.DataFrame, mentions: pd.DataFrame, lengths: Mapping[str, int]) -> None:
    """Every doc_id is a document's, and every given end lies within its document."""
    known = claims[C.doc_id].isin(list(lengths))
    if not known.all():
        bad = claims[~known].iloc[0]
        raise ClaimsetError(f"{source}:{bad[C.line]}: unknown doc_id {bad[C.doc_id]!r}")
    placed = mentions[mentions[M.end].notna()]
    if placed.empty:
        return
    over = placed[placed[M.end].astype("int64") > placed[M.doc_id].map(lengths)]
    if not over.empty:
        bad = over.iloc[0]
        raise ClaimsetError(f"{source}:{bad[M.line]}: {mention_path(bad[M.role], bad[M.index])} end {bad[M.end]} "
                            f"is past the end of document {bad[M.doc_id]!r} ({lengths[bad[M.doc_id]]} code points)")


def anchor_mentions(mentions: pd.DataFrame, documents: Mapping[str, str]) -> pd.DataFrame:
    """``mentions`` with every quote anchored (:mod:`claimset.quotes`): ``start``/``end`` filled in where it was
    found once, and the :data:`ANCHORING` and :data:`PLACES` columns."""
    by_document: dict[str, DocumentQuotes] = {}
    starts: list[int | None] = []
    ends: list[int | None] = []
    anchoring: list[str | None] = []
    places: list[int | None] = []
    for doc_id, start, end, quote, prefix, suffix in zip(
            mentions[M.doc_id], mentions[M.start], mentions[M.end], mentions[M.quote], mentions[M.prefix],
            mentions[M.suffix], strict=True):
        if _maybe(quote) is None:
            starts.append(_maybe(start))
            ends.append(_maybe(end))
            anchoring.append(None if _maybe(start) is None else Anchoring.OFFSETS.value)
            places.append(None)
            continue
        document = by_document.setdefault(doc_id, DocumentQuotes(documents[doc_id]))
        found = document.anchor(quote, _text(prefix), _text(suffix))
        starts.append(found.start)
        ends.append(found.end)
        anchoring.append(found.how.value)
        places.append(found.places)
    out = mentions.copy()
    out[M.start] = pd.array(starts, dtype="Int64")
    out[M.end] = pd.array(ends, dtype="Int64")
    out[ANCHORING] = pd.Series(anchoring, index=out.index, dtype=object)
    out[PLACES] = pd.array(places, dtype="Int64")
    return out


def _text(value: Any) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def load_prediction_records(path: Path, documents: Mapping[str, str], scheme: Scheme | None = None) -> Predictions:
    """Read, validate, flatten and anchor a file of prediction records (this module's format, JSONL or Parquet).

    ``documents`` maps doc_id to its text, and ``scheme`` (the gold's; by default claimset's) gives the
    allowed quote types and stances. Label Studio predictions (``claimset extract --format labelstudio``)
    are read by :func:`claimset.labelstudio.read_labelstudio_predictions`.
    """
    scheme = scheme or default_scheme()
    source = str(path)
    claim_rows, mention_rows = _flatten(source, _raw_records(path))
    claims = _validate(PredictedClaimsModel, _frame(claim_rows, CLAIM_COLUMNS), source, scheme)
    mentions = _validate(PredictedMentionsModel, _frame(mention_rows, MENTION_COLUMNS), source, scheme)
    _check_documents(source, claims, mentions, {doc_id: len(text) for doc_id, text in documents.items()})
    anchored = anchor_mentions(mentions, documents)
    return Predictions(source, claims.reset_index(drop=True), anchored.reset_index(drop=True))


# --- the format as a JSON Schema -------------------------------------------------------------------

INT64_MAX = 2**63 - 1
_NULL = {"type": "null"}


@functools.cache
def has_text_pattern() -> str:
    """A regular expression that finds a character in a string exactly when :func:`claimset.quotes.has_text`
    holds, read the same way by ECMAScript (the regexes of JSON Schema) and Python's :mod:`re`: a class of
    every character but those :meth:`str.isspace` calls white space, written as ``\\uXXXX`` escapes. (``\\S``
    would not do: ECMAScript's white space has U+FEFF and lacks U+001C-U+001F and U+0085; Python's the reverse.)
    """
    spaces = [code for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    ranges: list[list[int]] = []
    for code in spaces:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    assert all(last <= 0xFFFF for _, last in ranges)  # \uXXXX reaches every one of them, in both engines
    return "[^" + "".join(f"\\u{first:04x}" + (f"-\\u{last:04x}" if last > first else "")
                          for first, last in ranges) + "]"


def _forms(role: str) -> list[dict[str, Any]]:
    """The ways a mention of ``role`` gives its place: offsets, a quote, or (speakers, targets) an entity alone."""
    offsets = {"required": list(OFFSET_KEYS), "properties": {"start": {"type": "integer"}, "end": {"type": "integer"},
                                                            **dict.fromkeys(QUOTE_KEYS, _NULL)}}
    quote = {"required": ["quote"], "properties": {"quote": {"type": "string"}, **dict.fromkeys(OFFSET_KEYS, _NULL)}}
    forms = [offsets, quote]
    if role in ENTITY_ONLY:
        forms.append({"required": ["entity"], "properties": {"entity": {"type": "string"},
                                                              **dict.fromkeys((*OFFSET_KEYS, *QUOTE_KEYS), _NULL)}})
    return forms


def _mention_schema(role: str, scheme: Scheme) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "start": {"type": ["integer", "null"], "minimum": 0, "maximum": INT64_MAX,
                  "description": "first code point of the span in documents.text"},
        "end": {"type": ["integer", "null"], "minimum": 1, "maximum": INT64_MAX,
                "description": "one past the last code point (half-open; start < end <= len(text))"},
        "quote": {"type": ["string", "null"], "pattern": has_text_pattern(),
                  "description": "the span's text, instead of offsets; more than white space"},
        "prefix": {"type": ["string", "null"], "description": "text right before the quote, to tell places apart"},
        "suffix": {"type": ["string", "null"], "description": "text right after the quote, to tell places apart"},
    }
    if "entity" in MENTION_KEYS[role]:
        properties["entity"] = {"type": ["string", "null"], "pattern": has_text_pattern(),
                                "description": "the canonical name of the entity (or any name of it); more than "
                                               "white space"}
    if "stance" in MENTION_KEYS[role]:
        properties["stance"] = {"enum": [*scheme.stances, None],
                                "description": f"the claim's stance toward the target; default {DEFAULT_STANCE}"}
    return {"type": "object", "additionalProperties": False, "properties": properties, "oneOf": _forms(role)}


def json_schema(scheme: Scheme | None = None) -> dict[str, Any]:
    """The predictions record format as a JSON Schema (draft 2020-12), with the stances and quote types of
    ``scheme`` (by default claimset's). It cannot say that ``start < end``, that ``doc_id`` names a document
    of the gold, or that ``end`` lies within it: :func:`load_prediction_records` checks those."""
    scheme = scheme or default_scheme()
    optional = {role: {"anyOf": [_NULL, {"$ref": f"#/$defs/{role}"}]} for role in ("speaker", "cue")}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "claimset predictions record",
        "description": f"One predicted claim: one JSON object a line of a predictions file (scheme "
                       f"{scheme.name} {scheme.version}). See docs/predictions.md.",
        "type": "object",
        "additionalProperties": False,
        "required": ["doc_id", "claim"],
        "properties": {
            "doc_id": {"type": "string", "minLength": 1, "description": "a documents.doc_id of the gold"},
            "claim": {"$ref": "#/$defs/claim"},
            **optional,
            "targets": {"type": ["array", "null"], "items": {"$ref": "#/$defs/target"}},
            "quote_type": {"enum": [*scheme.allowed_values("quote_type"), None]},
        },
        "$defs": {role: _mention_schema(role, scheme) for role in ROLES},
    }


def json_schema_text(scheme: Scheme | None = None) -> str:
    """:func:`json_schema` as the published file holds it."""
    return json.dumps(json_schema(scheme), indent=2, ensure_ascii=False) + "\n"


def published_json_schema() -> dict[str, Any]:
    """The JSON Schema that ships with claimset (``claimset/data/predictions.schema.json``)."""
    published: dict[str, Any] = json.loads(resources.files("claimset").joinpath(JSON_SCHEMA_FILE).read_text("utf-8"))
    return published


# --- back to records --------------------------------------------------------------------------------


def _maybe(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def _as_written(row: Mapping[str, Any]) -> dict[str, Any]:
    """A mention row as the file gave it."""
    if _maybe(row[M.quote]) is not None:
        found = {key: row[key] for key in QUOTE_KEYS if _maybe(row[key]) is not None}
    elif _maybe(row[M.start]) is not None:
        found = {"start": int(row[M.start]), "end": int(row[M.end])}
    else:
        found = {}
    return found


def _as_anchored(row: Mapping[str, Any]) -> dict[str, Any]:
    """A mention row as scored: its anchored offsets, or its quote and why it was not anchored."""
    if _maybe(row[M.start]) is not None:
        return {"start": int(row[M.start]), "end": int(row[M.end]), "anchoring": row[ANCHORING]}
    if _maybe(row[M.quote]) is not None:
        return {**{key: row[key] for key in QUOTE_KEYS if _maybe(row[key]) is not None},
                "anchoring": row[ANCHORING], "places": int(row[PLACES])}
    return {}


def _records(claims: pd.DataFrame, mentions: pd.DataFrame, position: Callable[[Mapping[str, Any]], dict[str, Any]],
             with_line: bool = False) -> list[dict[str, Any]]:
    by_record: dict[int, dict[str, Any]] = {}
    for row in mentions.to_dict("records"):
        mention = position({str(key): value for key, value in row.items()})
        if _maybe(row[M.entity]) is not None:
            mention["entity"] = row[M.entity]
        of_record = by_record.setdefault(int(row[M.record]), {})
        if row[M.role] == "target":
            of_record.setdefault("targets", []).append({**mention, "stance": row[M.stance]})
        else:
            of_record[row[M.role]] = mention
    records = []
    for row in claims.to_dict("records"):
        record: dict[str, Any] = {"doc_id": row[C.doc_id]}
        if with_line:
            record["line"] = int(row[C.line])
        mentions_of = by_record.get(int(row[C.record]), {})
        record.update({key: mentions_of[key] for key in ("claim", "speaker", "cue", "targets") if key in mentions_of})
        if _maybe(row[C.quote_type]) is not None:
            record["quote_type"] = row[C.quote_type]
        records.append(record)
    return records


def records_from_tables(claims: pd.DataFrame, mentions: pd.DataFrame) -> list[dict[str, Any]]:
    """Rebuild records in the documented format from the flat tables."""
    return _records(claims, mentions, _as_written)


def write_predictions(records: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write records atomically: Parquet if ``path`` ends in ``.parquet``, else JSON Lines. Returns the count."""
    rows = [dict(record) for record in records]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            pq.write_table(pa.Table.from_pylist(rows, schema=PREDICTIONS), tmp, compression="zstd")
        else:
            with tmp.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)
