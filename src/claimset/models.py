"""pandera models of the dataset tables; the allowed values a scheme decides are added per scheme.

Each model is ``strict`` (no column missing, none extra) and ``coerce`` (types are cast, and a value
that cannot be cast is a failure). Column names are referenced through the models elsewhere in the
code (``SpansModel.start``), never as string literals. The models hold what every claimset dataset
shares; :func:`table_schema` adds the closed vocabularies of one scheme (span labels, relation
types, quote types), since each dataset is validated under the scheme it records.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pandera.pandas as pandera  # pandera's pandas API; `pa` is pyarrow everywhere in claimset
from pandera.typing import Series

from claimset.codes import RejectReason, Repair
from claimset.scheme import Scheme

SHA256 = r"^[0-9a-f]{64}$"
STATUSES = ("submitted", "cancelled")


_REPAIR_CODE = "(?:" + "|".join(re.escape(code) for code in Repair) + ")"
REPAIR_CODES = rf"{_REPAIR_CODE}(?:\+{_REPAIR_CODE})*"  # known codes joined by "+"


def _repair_codes_known(codes: pd.Series[Any]) -> pd.Series[bool]:
    """Null, or known repair codes joined by '+' (vectorised: no per-row Python)."""
    return codes.isna() | codes.astype("string").str.fullmatch(REPAIR_CODES).fillna(False).astype(bool)


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
    def start_before_end(cls, df: pd.DataFrame) -> Series[bool]:
        return df[cls.start] < df[cls.end]  # type: ignore[return-value]

    @pandera.check("offset_repair", name="known_repair_codes")
    @classmethod
    def known_repairs(cls, codes: pd.Series[Any]) -> pd.Series[bool]:
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
    item: Series[str] = pandera.Field(isin=("region", "attribute", "relation", "other", "task", "annotation"))
    region_id: Series[str] = pandera.Field(nullable=True)
    reason: Series[str] = pandera.Field(isin=tuple(RejectReason))
    message: Series[str]
    raw: Series[str]

    class Config:
        strict = True
        coerce = True


MODELS: dict[str, type[pandera.DataFrameModel]] = {
    "documents": DocumentsModel,
    "annotations": AnnotationsModel,
    "spans": SpansModel,
    "relations": RelationsModel,
    "rejects": RejectsModel,
}

# The column that identifies a row of each table, for failure reports.
ROW_KEYS: dict[str, str] = {
    "documents": DocumentsModel.doc_id,
    "annotations": AnnotationsModel.annotation_id,
    "spans": SpansModel.span_id,
    "relations": RelationsModel.relation_id,
    "rejects": RejectsModel.region_id,
}


def table_schema(name: str, scheme: Scheme) -> pandera.DataFrameSchema:
    """The pandera schema of table ``name`` under ``scheme``: the model plus the scheme's closed vocabularies."""
    schema = MODELS[name].to_schema()
    for column, allowed in _vocabularies(scheme).get(name, {}).items():
        schema = schema.update_column(column, checks=[*schema.columns[column].checks, pandera.Check.isin(allowed)])
    return schema


def _vocabularies(scheme: Scheme) -> dict[str, dict[str, tuple[str, ...]]]:
    return {
        "spans": {SpansModel.label: scheme.span_labels, SpansModel.quote_type: scheme.allowed_values("quote_type")},
        "relations": {RelationsModel.type: scheme.relation_types},
    }
