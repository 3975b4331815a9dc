"""Predicted claims: the file format extractors write, and how it is read, checked and flattened.

One record per predicted claim (JSON Lines, one object a line; or Parquet, one row a record)::

    {"doc_id": "000_666aa4b0ee0165a8",
     "claim": {"start": 0, "end": 42},
     "speaker": {"start": 50, "end": 61, "entity": "Sergey Lavrov"},
     "cue": {"start": 62, "end": 69},
     "targets": [{"start": 10, "end": 18, "entity": "the West", "stance": "against"}],
     "quote_type": "indirect"}

Only ``doc_id`` and ``claim`` are required. Offsets are Unicode code points into the document text,
half-open (``text[start:end]``), exactly as in the gold tables. A target without ``stance`` is
``"about"``. See ``docs/predictions.md``.

:func:`load_prediction_records` returns two flat tables (claims, targets) validated by pandera models
whose allowed values come from the scheme, with every offset checked against the documents. Any problem
raises :class:`ClaimsetError` naming ``file:line`` (for Parquet, the 1-based row) and what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pandera  # pandera's pandas API; `pa` is pyarrow everywhere in claimset
import pyarrow as pa
import pyarrow.parquet as pq
from pandera.errors import SchemaErrors
from pandera.typing import Series

from claimset.errors import LONE_SURROGATE, ClaimsetError, json_problem
from claimset.reader import has_lone_surrogate
from claimset.scheme import Scheme, default_scheme
from claimset.tables import atomic_path

DEFAULT_STANCE = "about"

RECORD_KEYS = frozenset({"doc_id", "claim", "speaker", "cue", "targets", "quote_type"})
MENTION_KEYS: Mapping[str, frozenset[str]] = {
    "claim": frozenset({"start", "end"}),
    "speaker": frozenset({"start", "end", "entity"}),
    "cue": frozenset({"start", "end"}),
    "target": frozenset({"start", "end", "entity", "stance"}),
}

_OFFSETS = pa.struct([("start", pa.int64()), ("end", pa.int64())])
PREDICTIONS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("claim", _OFFSETS),
        ("speaker", pa.struct([("start", pa.int64()), ("end", pa.int64()), ("entity", pa.string())])),
        ("cue", _OFFSETS),
        ("targets", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()),
                                        ("entity", pa.string()), ("stance", pa.string())]))),
        ("quote_type", pa.string()),
    ]
)
"""The Parquet layout of a predictions file (the same nesting as the JSON records)."""


class PredictedClaimsModel(pandera.DataFrameModel):
    """One row per predicted claim, with its speaker and cue flattened into columns."""

    record: Series[int] = pandera.Field(ge=0)  # 0-based position of the record in the file
    line: Series[int] = pandera.Field(ge=1)  # JSONL line number, or 1-based Parquet row
    doc_id: Series[str] = pandera.Field(str_length={"min_value": 1})
    start: Series[int] = pandera.Field(ge=0)
    end: Series[int] = pandera.Field(ge=1)
    quote_type: Series[str] = pandera.Field(nullable=True)  # isin the scheme's quote types: see _schema
    speaker_start: Series[pd.Int64Dtype] = pandera.Field(nullable=True, ge=0)
    speaker_end: Series[pd.Int64Dtype] = pandera.Field(nullable=True, ge=1)
    speaker_entity: Series[str] = pandera.Field(nullable=True, str_length={"min_value": 1})
    cue_start: Series[pd.Int64Dtype] = pandera.Field(nullable=True, ge=0)
    cue_end: Series[pd.Int64Dtype] = pandera.Field(nullable=True, ge=1)

    @pandera.dataframe_check(error="claim start < end")
    @classmethod
    def claim_start_before_end(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df[cls.start] < df[cls.end]

    @pandera.dataframe_check(error="speaker start < end")
    @classmethod
    def speaker_start_before_end(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return (df[cls.speaker_start].isna() | (df[cls.speaker_start] < df[cls.speaker_end])).astype(bool)

    @pandera.dataframe_check(error="cue start < end")
    @classmethod
    def cue_start_before_end(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return (df[cls.cue_start].isna() | (df[cls.cue_start] < df[cls.cue_end])).astype(bool)

    class Config:
        strict = True
        coerce = True


class PredictedTargetsModel(pandera.DataFrameModel):
    """One row per target of a predicted claim."""

    record: Series[int] = pandera.Field(ge=0)
    line: Series[int] = pandera.Field(ge=1)
    doc_id: Series[str] = pandera.Field(str_length={"min_value": 1})
    start: Series[int] = pandera.Field(ge=0)
    end: Series[int] = pandera.Field(ge=1)
    entity: Series[str] = pandera.Field(nullable=True, str_length={"min_value": 1})
    stance: Series[str]  # isin the scheme's stances: see _schema

    @pandera.dataframe_check(error="target start < end")
    @classmethod
    def target_start_before_end(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df[cls.start] < df[cls.end]

    class Config:
        strict = True
        coerce = True


C = PredictedClaimsModel
T = PredictedTargetsModel
CLAIM_COLUMNS = (C.record, C.line, C.doc_id, C.start, C.end, C.quote_type, C.speaker_start, C.speaker_end,
                 C.speaker_entity, C.cue_start, C.cue_end)
TARGET_COLUMNS = (T.record, T.line, T.doc_id, T.start, T.end, T.entity, T.stance)


@dataclass(frozen=True)
class Predictions:
    """Flat, validated predictions: ``claims`` (one row per record) and ``targets`` (one per target)."""

    source: str
    claims: pd.DataFrame
    targets: pd.DataFrame

    def __len__(self) -> int:
        return len(self.claims)

    def records(self) -> list[dict[str, Any]]:
        """The predictions back as records in the documented format (file order)."""
        return records_from_tables(self.claims, self.targets)


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mention(value: Any, kind: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ClaimsetError(f"{where}: '{kind}' must be an object with start and end, got {type(value).__name__}")
    unknown = sorted(set(value) - MENTION_KEYS[kind])
    if unknown:
        raise ClaimsetError(f"{where}: '{kind}' has unknown key '{unknown[0]}'")
    for key in ("start", "end"):
        if key not in value:
            raise ClaimsetError(f"{where}: '{kind}' is missing '{key}'")
        if not _is_int(value[key]):
            raise ClaimsetError(f"{where}: '{kind}.{key}' must be an integer, got {value[key]!r}")
    for key in ("entity", "stance"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise ClaimsetError(f"{where}: '{kind}.{key}' must be a string, got {value[key]!r}")
    return value


def _flatten(source: str, rows: Iterable[tuple[int, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    claims: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
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
        if "claim" not in obj or obj["claim"] is None:
            raise ClaimsetError(f"{where}: 'claim' is required")
        claim = _mention(obj["claim"], "claim", where)
        speaker = _mention(obj["speaker"], "speaker", where) if obj.get("speaker") is not None else {}
        cue = _mention(obj["cue"], "cue", where) if obj.get("cue") is not None else {}
        quote_type = obj.get("quote_type")
        if quote_type is not None and not isinstance(quote_type, str):
            raise ClaimsetError(f"{where}: 'quote_type' must be a string, got {quote_type!r}")
        raw_targets = obj.get("targets")
        raw_targets = [] if raw_targets is None else raw_targets
        if not isinstance(raw_targets, list):
            raise ClaimsetError(f"{where}: 'targets' must be a list")
        record = len(claims)
        claims.append({
            C.record: record, C.line: line, C.doc_id: doc_id, C.start: claim["start"], C.end: claim["end"],
            C.quote_type: quote_type, C.speaker_start: speaker.get("start"), C.speaker_end: speaker.get("end"),
            C.speaker_entity: speaker.get("entity"), C.cue_start: cue.get("start"), C.cue_end: cue.get("end"),
        })
        for raw_target in raw_targets:
            target = _mention(raw_target, "target", where)
            targets.append({
                T.record: record, T.line: line, T.doc_id: doc_id, T.start: target["start"], T.end: target["end"],
                T.entity: target.get("entity"), T.stance: target.get("stance") or DEFAULT_STANCE,
            })
    return claims, targets


def _schema(model: type[pandera.DataFrameModel], scheme: Scheme) -> pandera.DataFrameSchema:
    """The model's schema with the closed vocabularies of ``scheme`` (quote types, stances)."""
    schema = model.to_schema()
    allowed = {C.quote_type: scheme.allowed_values("quote_type")} if model is PredictedClaimsModel \
        else {T.stance: scheme.stances}
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
        line = int(frame.loc[row["index"], "line"])
        if row["schema_context"] == "Column":
            raise ClaimsetError(f"{source}:{line}: {row['column']}: failed check {row['check']} "
                                f"(got {row['failure_case']!r})") from exc
        raise ClaimsetError(f"{source}:{line}: failed check {row['check']}") from exc


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype(object)


def _check_offsets(source: str, frame: pd.DataFrame, lengths: Mapping[str, int], what: str,
                   start: str, end: str) -> None:
    known = frame[C.doc_id].isin(list(lengths))
    if not known.all():
        bad = frame[~known].iloc[0]
        raise ClaimsetError(f"{source}:{bad[C.line]}: unknown doc_id {bad[C.doc_id]!r}")
    present = frame[start].notna()
    if not present.any():
        return
    sub = frame[present]
    limit = sub[C.doc_id].map(lengths)
    over = sub[sub[end].astype("int64") > limit]
    if not over.empty:
        bad = over.iloc[0]
        raise ClaimsetError(f"{source}:{bad[C.line]}: {what} end {bad[end]} is past the end of document "
                            f"{bad[C.doc_id]!r} ({lengths[bad[C.doc_id]]} code points)")


def load_prediction_records(path: Path, documents: Mapping[str, str], scheme: Scheme | None = None) -> Predictions:
    """Read, validate and flatten a file of prediction records (this module's format, JSONL or Parquet).

    ``documents`` maps doc_id to its text, and ``scheme`` (the gold's; by default claimset's) gives the
    allowed quote types and stances. Label Studio predictions (``claimset extract --format labelstudio``)
    are read by :func:`claimset.labelstudio.read_labelstudio_predictions`.
    """
    scheme = scheme or default_scheme()
    source = str(path)
    claim_rows, target_rows = _flatten(source, _raw_records(path))
    claims = _validate(PredictedClaimsModel, _frame(claim_rows, CLAIM_COLUMNS), source, scheme)
    targets = _validate(PredictedTargetsModel, _frame(target_rows, TARGET_COLUMNS), source, scheme)
    lengths = {doc_id: len(text) for doc_id, text in documents.items()}
    _check_offsets(source, claims, lengths, "claim", C.start, C.end)
    _check_offsets(source, claims, lengths, "speaker", C.speaker_start, C.speaker_end)
    _check_offsets(source, claims, lengths, "cue", C.cue_start, C.cue_end)
    _check_offsets(source, targets, lengths, "target", T.start, T.end)
    return Predictions(source, claims.reset_index(drop=True), targets.reset_index(drop=True))


# --- writing --------------------------------------------------------------------------------------


def _maybe(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value


def records_from_tables(claims: pd.DataFrame, targets: pd.DataFrame) -> list[dict[str, Any]]:
    """Rebuild records in the documented format from the flat tables."""
    by_record: dict[int, list[dict[str, Any]]] = {}
    for row in targets.to_dict("records"):
        target = {"start": int(row[T.start]), "end": int(row[T.end]), "stance": row[T.stance]}
        if _maybe(row[T.entity]) is not None:
            target["entity"] = row[T.entity]
        by_record.setdefault(int(row[T.record]), []).append(target)
    records = []
    for row in claims.to_dict("records"):
        record: dict[str, Any] = {"doc_id": row[C.doc_id],
                                  "claim": {"start": int(row[C.start]), "end": int(row[C.end])}}
        if _maybe(row[C.speaker_start]) is not None:
            record["speaker"] = {"start": int(row[C.speaker_start]), "end": int(row[C.speaker_end])}
            if _maybe(row[C.speaker_entity]) is not None:
                record["speaker"]["entity"] = row[C.speaker_entity]
        if _maybe(row[C.cue_start]) is not None:
            record["cue"] = {"start": int(row[C.cue_start]), "end": int(row[C.cue_end])}
        if int(row[C.record]) in by_record:
            record["targets"] = by_record[int(row[C.record])]
        if _maybe(row[C.quote_type]) is not None:
            record["quote_type"] = row[C.quote_type]
        records.append(record)
    return records


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
