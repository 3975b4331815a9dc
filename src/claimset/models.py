"""The dataset tables' columns and the pandera models of them; the allowed values a scheme decides are added
per scheme.

Each model is ``strict`` (no column missing, none extra) and ``coerce`` (types are cast, and a value
that cannot be cast is a failure). Column names are referenced through the column classes elsewhere in
the code (``SpanColumns.start``, the same names as the model's ``SpansModel.start``), never as string
literals. The models hold what every claimset dataset shares; :func:`table_schema` adds the closed
vocabularies of one scheme (span labels, relation types, quote types), since each dataset is validated
under the scheme it records.

pandas and pandera are imported only when a model is first used (``SpansModel``, :func:`table_schema`):
the import and the validation of a sound dataset do not need them. :data:`RULES` is what the
validation's pre-check reads of the models instead, and must say what they say (a test compares them).
"""

# No ``from __future__ import annotations``: the models are defined in a function, and pandera reads their
# annotations, which must be resolved there.

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from claimset.codes import RejectReason, Repair
from claimset.scheme import Scheme

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pandera

SHA256 = r"^[0-9a-f]{64}$"
STATUSES = ("submitted", "cancelled")
ITEMS = ("region", "attribute", "relation", "other", "task", "annotation")


_REPAIR_CODE = "(?:" + "|".join(re.escape(code) for code in Repair) + ")"
REPAIR_CODES = rf"{_REPAIR_CODE}(?:\+{_REPAIR_CODE})*"  # known codes joined by "+"


def _repair_codes_known(codes: "pd.Series[Any]") -> "pd.Series[bool]":
    """Null, or known repair codes joined by '+' (vectorised: no per-row Python)."""
    return codes.isna() | codes.astype("string").str.fullmatch(REPAIR_CODES).fillna(False).astype(bool)


class DocumentColumns:
    """The columns of ``documents`` (:class:`DocumentsModel`)."""

    doc_id = "doc_id"
    published = "published"
    source_file = "source_file"
    text = "text"
    text_sha256 = "text_sha256"


class AnnotationColumns:
    """The columns of ``annotations`` (:class:`AnnotationsModel`)."""

    annotation_id = "annotation_id"
    task_id = "task_id"
    doc_id = "doc_id"
    annotator = "annotator"
    status = "status"
    ground_truth = "ground_truth"
    created_at = "created_at"
    updated_at = "updated_at"
    lead_time = "lead_time"
    n_regions = "n_regions"
    n_relations = "n_relations"


class SpanColumns:
    """The columns of ``spans`` (:class:`SpansModel`)."""

    span_id = "span_id"
    annotation_id = "annotation_id"
    doc_id = "doc_id"
    region_id = "region_id"
    label = "label"
    start = "start"
    end = "end"
    text = "text"
    quote_type = "quote_type"
    entity = "entity"
    prefix = "prefix"
    suffix = "suffix"
    offset_repair = "offset_repair"


class RelationColumns:
    """The columns of ``relations`` (:class:`RelationsModel`)."""

    relation_id = "relation_id"
    annotation_id = "annotation_id"
    doc_id = "doc_id"
    head_span_id = "head_span_id"
    tail_span_id = "tail_span_id"
    type = "type"


class RejectColumns:
    """The columns of ``rejects`` (:class:`RejectsModel`)."""

    source = "source"
    task_id = "task_id"
    annotation_id = "annotation_id"
    item = "item"
    region_id = "region_id"
    reason = "reason"
    message = "message"
    raw = "raw"


COLUMNS: dict[str, type] = {"documents": DocumentColumns, "annotations": AnnotationColumns, "spans": SpanColumns,
                            "relations": RelationColumns, "rejects": RejectColumns}

# The column that identifies a row of each table, for failure reports.
ROW_KEYS: dict[str, str] = {
    "documents": DocumentColumns.doc_id,
    "annotations": AnnotationColumns.annotation_id,
    "spans": SpanColumns.span_id,
    "relations": RelationColumns.relation_id,
    "rejects": RejectColumns.region_id,
}


# -- what the models check, as data ----------------------------------------------------------------------

Rule = tuple[str, tuple[tuple[str, Any], ...]]  # a check's name, and its statistics as sorted (name, value) pairs


@dataclass(frozen=True)
class ColumnRules:
    """What a model says of one column: its pandas type (as pandera names it), nulls, uniqueness, checks."""

    dtype: str
    nullable: bool = False
    unique: bool = False
    checks: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class TableRules:
    """What a model says of a table: its columns' rules, and its checks of whole rows (by name)."""

    columns: dict[str, ColumnRules]
    checks: tuple[str, ...] = ()

    def without_unique(self, column: str) -> "TableRules":
        """The same rules, ``column`` not required to be unique."""
        columns = dict(self.columns)
        columns[column] = ColumnRules(columns[column].dtype, columns[column].nullable, False, columns[column].checks)
        return TableRules(columns, self.checks)


def _min_length(length: int) -> Rule:
    return ("str_length", (("exact_value", None), ("max_value", None), ("min_value", length)))


def _at_least(value: int) -> Rule:
    return ("greater_than_or_equal_to", (("min_value", value),))


def _matches(pattern: str) -> Rule:
    return ("str_matches", (("pattern", pattern),))


def _isin(values: tuple[Any, ...]) -> Rule:
    return ("isin", (("allowed_values", values),))


_STRING = "string[pyarrow]"
_TIME = "datetime64[us, UTC]"
# The models below as data (what rules_of(table_schema(...)) gives without a scheme's vocabularies).
RULES: dict[str, TableRules] = {
    "documents": TableRules({
        "doc_id": ColumnRules(_STRING, unique=True, checks=(_min_length(1),)),
        "published": ColumnRules("date", nullable=True),
        "source_file": ColumnRules(_STRING),
        "text": ColumnRules(_STRING, checks=(_min_length(1),)),
        "text_sha256": ColumnRules(_STRING, checks=(_matches(SHA256),)),
    }),
    "annotations": TableRules({
        "annotation_id": ColumnRules("int64", unique=True),
        "task_id": ColumnRules("int64"),
        "doc_id": ColumnRules(_STRING),
        "annotator": ColumnRules(_STRING, checks=(_matches(r"^[^@\s]+$"),)),
        "status": ColumnRules(_STRING, checks=(_isin(STATUSES),)),
        "ground_truth": ColumnRules("bool"),
        "created_at": ColumnRules(_TIME, nullable=True),
        "updated_at": ColumnRules(_TIME, nullable=True),
        "lead_time": ColumnRules("float64", nullable=True, checks=(_at_least(0),)),
        "n_regions": ColumnRules("int64", checks=(_at_least(0),)),
        "n_relations": ColumnRules("int64", checks=(_at_least(0),)),
    }),
    "spans": TableRules({
        "span_id": ColumnRules(_STRING, unique=True),
        "annotation_id": ColumnRules("int64"),
        "doc_id": ColumnRules(_STRING),
        "region_id": ColumnRules(_STRING),
        "label": ColumnRules(_STRING),
        "start": ColumnRules("int64", checks=(_at_least(0),)),
        "end": ColumnRules("int64", checks=(_at_least(1),)),
        "text": ColumnRules(_STRING, checks=(_min_length(1),)),
        "quote_type": ColumnRules(_STRING, nullable=True),
        "entity": ColumnRules(_STRING, nullable=True, checks=(_min_length(1),)),
        "prefix": ColumnRules(_STRING),
        "suffix": ColumnRules(_STRING),
        "offset_repair": ColumnRules(_STRING, nullable=True, checks=(("known_repair_codes", ()),)),
    }, checks=("start_before_end",)),
    "relations": TableRules({
        "relation_id": ColumnRules(_STRING, unique=True),
        "annotation_id": ColumnRules("int64"),
        "doc_id": ColumnRules(_STRING),
        "head_span_id": ColumnRules(_STRING),
        "tail_span_id": ColumnRules(_STRING),
        "type": ColumnRules(_STRING),
    }),
    "rejects": TableRules({
        "source": ColumnRules(_STRING),
        "task_id": ColumnRules("Int64", nullable=True),
        "annotation_id": ColumnRules("Int64", nullable=True),
        "item": ColumnRules(_STRING, checks=(_isin(ITEMS),)),
        "region_id": ColumnRules(_STRING, nullable=True),
        "reason": ColumnRules(_STRING, checks=(_isin(tuple(RejectReason)),)),
        "message": ColumnRules(_STRING),
        "raw": ColumnRules(_STRING),
    }),
}

CUSTOM_CHECKS = {"known_repair_codes": _repair_codes_known}  # the models' own column checks, by name


def table_rules(name: str, scheme: Scheme) -> TableRules:
    """:data:`RULES` of table ``name`` plus the closed vocabularies of ``scheme``, as :func:`table_schema` has them."""
    rules = RULES[name]
    columns = dict(rules.columns)
    for column, allowed in _vocabularies(scheme).get(name, {}).items():
        found = columns[column]
        columns[column] = ColumnRules(found.dtype, found.nullable, found.unique, (*found.checks, _isin(allowed)))
    return TableRules(columns, rules.checks)


def rules_of(schema: Any) -> TableRules:
    """The rules of a pandera ``DataFrameSchema`` (what :data:`RULES` must equal; pandera is not imported here).

    A check of another kind than those of :data:`RULES` gets a name the validation's pre-check does not know.
    """
    columns = {}
    for name, column in schema.columns.items():
        checks = tuple((str(check.name) if not check.element_wise else f"element_wise:{check.name}",
                        tuple(sorted((str(key), _plain(value)) for key, value in (check.statistics or {}).items())))
                       for check in column.checks)
        columns[str(name)] = ColumnRules(str(column.dtype), bool(column.nullable), bool(column.unique), checks)
    return TableRules(columns, tuple(str(check.name) for check in schema.checks))


def _plain(value: Any) -> Any:
    """A check's statistic as a hashable value (a list of allowed values as a tuple)."""
    return tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else value


def _vocabularies(scheme: Scheme) -> dict[str, dict[str, tuple[str, ...]]]:
    return {
        "spans": {SpanColumns.label: scheme.span_labels, SpanColumns.quote_type: scheme.allowed_values("quote_type")},
        "relations": {RelationColumns.type: scheme.relation_types},
    }


# -- the pandera models, defined when first used --------------------------------------------------------

_MODEL_NAMES = ("DocumentsModel", "AnnotationsModel", "SpansModel", "RelationsModel", "RejectsModel")


@cache
def _models() -> dict[str, Any]:
    """The pandera models by table name (importing pandas and pandera, once)."""
    import pandas as pd
    import pandera.pandas as pandera  # pandera's pandas API; `pa` is pyarrow everywhere in claimset
    from pandera.typing import Series

    class DocumentsModel(pandera.DataFrameModel):
        doc_id: Series[str] = pandera.Field(unique=True, str_length={"min_value": 1})
        published: Series[pandera.Date] = pandera.Field(nullable=True)
        source_file: Series[str]
        text: Series[str] = pandera.Field(str_length={"min_value": 1})
        text_sha256: Series[str] = pandera.Field(str_matches=SHA256)

        class Config:
            strict = True
            coerce = True

    class AnnotationsModel(pandera.DataFrameModel):
        annotation_id: Series[int] = pandera.Field(unique=True)
        task_id: Series[int]
        doc_id: Series[str]
        annotator: Series[str] = pandera.Field(str_matches=r"^[^@\s]+$")  # pseudonymous: never an e-mail
        status: Series[str] = pandera.Field(isin=STATUSES)
        ground_truth: Series[bool]
        created_at: Series[pd.DatetimeTZDtype] = pandera.Field(dtype_kwargs={"unit": "us", "tz": "UTC"}, nullable=True)
        updated_at: Series[pd.DatetimeTZDtype] = pandera.Field(dtype_kwargs={"unit": "us", "tz": "UTC"}, nullable=True)
        lead_time: Series[float] = pandera.Field(nullable=True, ge=0)
        n_regions: Series[int] = pandera.Field(ge=0)
        n_relations: Series[int] = pandera.Field(ge=0)

        class Config:
            strict = True
            coerce = True

    class SpansModel(pandera.DataFrameModel):
        span_id: Series[str] = pandera.Field(unique=True)
        annotation_id: Series[int]
        doc_id: Series[str]
        region_id: Series[str]
        label: Series[str]  # isin the scheme's span labels, see table_schema
        start: Series[int] = pandera.Field(ge=0)
        end: Series[int] = pandera.Field(ge=1)
        text: Series[str] = pandera.Field(str_length={"min_value": 1})
        quote_type: Series[str] = pandera.Field(nullable=True)  # isin the scheme's quote types, see table_schema
        entity: Series[str] = pandera.Field(nullable=True, str_length={"min_value": 1})
        prefix: Series[str]
        suffix: Series[str]
        offset_repair: Series[str] = pandera.Field(nullable=True)

        @pandera.dataframe_check(name="start_before_end")
        @classmethod
        def start_before_end(cls, df: "pd.DataFrame") -> "Series[bool]":
            return df[cls.start] < df[cls.end]  # type: ignore[return-value]

        @pandera.check("offset_repair", name="known_repair_codes")
        @classmethod
        def known_repairs(cls, codes: "pd.Series[Any]") -> "pd.Series[bool]":
            return _repair_codes_known(codes)

        class Config:
            strict = True
            coerce = True

    class RelationsModel(pandera.DataFrameModel):
        relation_id: Series[str] = pandera.Field(unique=True)
        annotation_id: Series[int]
        doc_id: Series[str]
        head_span_id: Series[str]
        tail_span_id: Series[str]
        type: Series[str]  # isin the scheme's relation types, see table_schema

        class Config:
            strict = True
            coerce = True

    class RejectsModel(pandera.DataFrameModel):
        source: Series[str]
        task_id: Series[pd.Int64Dtype] = pandera.Field(nullable=True)
        annotation_id: Series[pd.Int64Dtype] = pandera.Field(nullable=True)
        item: Series[str] = pandera.Field(isin=ITEMS)
        region_id: Series[str] = pandera.Field(nullable=True)
        reason: Series[str] = pandera.Field(isin=tuple(RejectReason))
        message: Series[str]
        raw: Series[str]

        class Config:
            strict = True
            coerce = True

    return {"documents": DocumentsModel, "annotations": AnnotationsModel, "spans": SpansModel,
            "relations": RelationsModel, "rejects": RejectsModel}


def __getattr__(name: str) -> Any:
    """``DocumentsModel`` ... ``RejectsModel`` and ``MODELS``, made on first use (see :func:`_models`)."""
    if name in _MODEL_NAMES:
        return _models()[next(table for table, model in _models().items() if model.__name__ == name)]
    if name == "MODELS":
        return dict(_models())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def table_schema(name: str, scheme: Scheme) -> "pandera.DataFrameSchema":
    """The pandera schema of table ``name`` under ``scheme``: the model plus the scheme's closed vocabularies."""
    import pandera.pandas as pandera

    schema: pandera.DataFrameSchema = _models()[name].to_schema()
    for column, allowed in _vocabularies(scheme).get(name, {}).items():
        schema = schema.update_column(column, checks=[*schema.columns[column].checks, pandera.Check.isin(allowed)])
    return schema
