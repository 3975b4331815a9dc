"""Every stable code claimset reports, in one place: reject reasons, validation checks, offset repairs.

Each code is a member of a ``StrEnum`` (like pandera's ``SchemaErrorReason``): it compares equal to
its string value, which is what the tables and the JSON reports store, and a typo in code is an
``AttributeError`` at import rather than a wrong string at run time. Every member carries a one-line
``description``, which ``docs/`` and the reports quote.

This module depends on nothing else in claimset: the schema layer (:mod:`claimset.models`) and every
pipeline stage import it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class _Code(StrEnum):
    """A stable code with a one-line description."""

    description: str

    def __new__(cls, value: str, description: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    @classmethod
    def describe(cls) -> dict[str, str]:
        """Code -> description, in declaration order."""
        return {member.value: member.description for member in cls}


class RejectReason(_Code):
    """Why an item of a Label Studio export went to ``rejects`` instead of the tables."""

    NOT_A_TASK = "not_a_task", "an item of the export is not a task object with 'data'"
    MALFORMED_TASK = (
        "malformed_task", "the task's id is not a 64-bit integer, or its annotations, completions, drafts or "
        "predictions are not lists; every item of the task is rejected"
    )
    TASK_WITHOUT_TEXT = "task_without_text", "the task has no text to anchor spans in"
    INVALID_UNICODE = (
        "invalid_unicode", "a lone surrogate (an unpaired \\ud800-\\udfff escape, not Unicode text) in the task's "
        "text or doc_id (the whole task is rejected) or anywhere in a result item"
    )
    MALFORMED_ANNOTATION = (
        "malformed_annotation", "the annotation is not an object, or its result is not a list, its id not a 64-bit "
        "integer, or was_cancelled/ground_truth not true, false or null; every item of it is rejected"
    )
    DUPLICATE_ANNOTATION_ID = (
        "duplicate_annotation_id", "an annotation with this id was already read in another task; the first one is kept"
    )
    CANCELLED = "cancelled", "the annotation was cancelled (skipped) by its annotator; it contributes no spans"
    UNKNOWN_RESULT_TYPE = "unknown_result_type", "the result item's type is none of labels, choices, textarea, relation"
    UNKNOWN_FROM_NAME = "unknown_from_name", "the result names a control tag that the scheme does not define"
    UNKNOWN_TO_NAME = "unknown_to_name", "the result names an object tag other than the scheme's text"
    UNKNOWN_LABEL = "unknown_label", "the region's label is not in the scheme"
    MULTIPLE_LABELS = "multiple_labels", "the region carries more than one label"
    DUPLICATE_REGION_ID = "duplicate_region_id", "another region of the same annotation has this id"
    INVALID_REGION_ID = (
        "invalid_region_id",
        "the region id is missing, empty, not a string or an integer, or holds '>' (relation ids join two region ids "
        "with it)",
    )
    OFFSETS_MISSING = "offsets_missing", "start/end are missing or not integers"
    OFFSETS_NEGATIVE = "offsets_negative", "start or end is negative"
    OFFSETS_REVERSED = "offsets_reversed", "start is not before end"
    OFFSETS_OUT_OF_RANGE = "offsets_out_of_range", "end is past the end of the text"
    TEXT_MISMATCH = "text_mismatch", "the exported text disagrees with the slice and no known repair explains it"
    WHITESPACE_SPAN = "whitespace_span", "the span holds only white space"
    REANCHOR_NOT_FOUND = "reanchor_not_found", "the document changed and the span's quote no longer occurs in it"
    REANCHOR_AMBIGUOUS = "reanchor_ambiguous", "the document changed and the span's quote occurs several times"
    ATTRIBUTE_ORPHAN = "attribute_orphan", "the per-region attribute refers to a region that does not exist"
    ATTRIBUTE_REGION_REJECTED = "attribute_region_rejected", "the per-region attribute belongs to a rejected region"
    ATTRIBUTE_WRONG_LABEL = "attribute_wrong_label", "the attribute does not apply to the region's label"
    UNKNOWN_ATTRIBUTE_VALUE = "unknown_attribute_value", "the attribute value is not allowed by the scheme"
    ATTRIBUTE_EMPTY = "attribute_empty", "the attribute carries no value"
    ATTRIBUTE_NOT_TEXT = "attribute_not_text", "a textarea value is not a string or a list of strings"
    DUPLICATE_ATTRIBUTE = "duplicate_attribute", "the region already has a value for this attribute"
    RELATION_MISSING_REGION = "relation_missing_region", "a relation endpoint is not a region of the annotation"
    RELATION_ENDPOINT_REJECTED = "relation_endpoint_rejected", "a relation endpoint is a rejected region"
    RELATION_UNLABELLED = "relation_unlabelled", "the relation has no type"
    MULTIPLE_RELATION_LABELS = "multiple_relation_labels", "the relation has more than one type"
    UNKNOWN_RELATION = "unknown_relation", "the relation type is not in the scheme"
    RELATION_WRONG_LABELS = "relation_wrong_labels", "the relation joins labels the scheme does not allow for its type"
    RELATION_BIDIRECTIONAL = "relation_bidirectional", "the relation is bidirectional; scheme relations are directed"
    RELATION_DIRECTION_UNKNOWN = (
        "relation_direction_unknown", "the relation's direction is none of right, left, bi (missing or null is right)"
    )
    DUPLICATE_RELATION = "duplicate_relation", "the same relation appears twice in the annotation"


class CrossCheck(_Code):
    """Validation checks across tables (and of table files); single-table checks keep pandera's names."""

    TABLE_MISSING = "table_missing", "a table file is missing from the dataset directory"
    TABLE_UNREADABLE = "table_unreadable", "a table file is not readable Parquet"
    COLUMN_TYPE_MISMATCH = (
        "column_type_mismatch", "a column is stored with another Arrow type than declared (a cast would hide it)"
    )
    DOC_HASH_MISMATCH = "doc_hash_mismatch", "text_sha256 is not the SHA-256 of the document text"
    DOC_SEED_MISMATCH = "doc_seed_mismatch", "the document text differs from its seed file"
    ANNOTATION_DOC_MISSING = "annotation_doc_missing", "the annotation's document is not in documents"
    SPAN_DOC_MISSING = "span_doc_missing", "the span's document is not in documents"
    SPAN_ANNOTATION_MISSING = (
        "span_annotation_missing", "the span's annotation is not in annotations, or is not submitted"
    )
    SPAN_DOC_MISMATCH = "span_doc_mismatch", "the span's doc_id differs from its annotation's"
    SPAN_OUT_OF_RANGE = "span_out_of_range", "the span's end is past the end of its document"
    SPAN_TEXT_MISMATCH = "span_text_mismatch", "the span text is not documents.text[start:end]"
    SPAN_QUOTE_MISMATCH = "span_quote_mismatch", "prefix/suffix are not the text around the span"
    SPAN_ID_MISMATCH = "span_id_mismatch", "span_id is not the id made of the span's annotation_id and region_id"
    ATTRIBUTE_MISSING = "attribute_missing", "a required attribute of the span's label is empty"
    ATTRIBUTE_NOT_APPLICABLE = "attribute_not_applicable", "the span has an attribute its label does not take"
    RELATION_ENDPOINT_MISSING = "relation_endpoint_missing", "a relation endpoint is not in spans"
    RELATION_CROSS_ANNOTATION = "relation_cross_annotation", "a relation joins spans of another annotation"
    RELATION_WRONG_LABELS = "relation_wrong_labels", "the relation joins labels its type does not allow"
    RELATION_MAX_PER_HEAD = (
        "relation_max_per_head", "a claim has more relations of this type than the scheme allows"
    )
    RELATION_DOC_MISMATCH = "relation_doc_mismatch", "the relation's doc_id differs from its spans'"
    RELATION_ID_MISMATCH = (
        "relation_id_mismatch",
        "relation_id is not the id made of the relation's annotation_id, endpoint regions and type",
    )
    DUPLICATE_RELATION = "duplicate_relation", "another relation has the same head, tail and type"
    CROISSANT_STALE = (
        "croissant_stale",
        "croissant.json names a file that is missing, outside the dataset, or whose SHA-256 differs",
    )
    CLAIMS_STALE = (
        "claims_stale",
        "claims.parquet is not the claims table derived from the other tables (edited, stale, or partly missing)",
    )


class Repair(_Code):
    """Offset repairs recorded in ``spans.offset_repair`` (several joined by ``+``, in the order applied)."""

    ESCAPED_NEWLINES = "escaped_newlines", "value.text had Label Studio's literal \\n escapes; undone before comparing"
    UTF16 = "utf16", "the offsets were UTF-16 code units; mapped to code points"
    CRLF = "crlf", "the offsets counted CRLF line breaks as two characters; mapped to the LF text"
    TRIM_WHITESPACE = "trim_whitespace", "white space around the span was trimmed"
    REANCHORED = "reanchored", "the document changed; the span was found again by its quote"


def join_repairs(*codes: str | None) -> str | None:
    """The ``offset_repair`` value for repairs applied in this order: non-empty codes joined by ``+``."""
    kept = [code for code in codes if code]
    return "+".join(kept) if kept else None


class Anchoring(_Code):
    """How ``claimset evaluate`` placed a predicted span in its document (see :mod:`claimset.quotes`)."""

    OFFSETS = "offsets", "given as start/end code points"
    EXACT = "exact", "the quote occurs in the document verbatim, once with its prefix and suffix"
    NORMALISED = (
        "normalised",
        "found once after normalising typographic quotes and apostrophes, dashes, ellipses and white space",
    )
    ELIDED = (
        "elided",
        "a quote with an ellipsis: its pieces found in order, once, after normalising; the span runs from the "
        "first piece to the last",
    )
    NOT_FOUND = (
        "not_found",
        "the quote does not occur in the document, or never with its prefix and suffix; counted as spurious",
    )
    AMBIGUOUS = (
        "ambiguous",
        "the quote occurs several times and its prefix and suffix do not single one out; counted as spurious",
    )


class EntityMatch(_Code):
    """How ``claimset evaluate`` resolved a predicted speaker or target name against the gold's entities."""

    CANONICAL = "canonical", "the name is the canonical name of one gold entity of the document"
    ALIAS = "alias", "the name is the text of gold mentions of exactly one entity of the document"
    AMBIGUOUS = (
        "ambiguous",
        "the name is the canonical name, or else a mention text, of several entities of the document; it matches "
        "none",
    )
    UNKNOWN = "unknown", "the name is neither a canonical name nor a mention text of the document's gold"
