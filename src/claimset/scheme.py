"""The annotation scheme and what is generated from it.

The scheme is the single source of truth for label names, relation types and per-region attributes.
The Label Studio labeling config and the allowed values the validators check are derived from it.

Where a scheme comes from: a project's editable ``schema/scheme.yaml`` (what ``claimset init``
writes), a dataset folder's own record of the scheme it was made under (see
:mod:`claimset.dataset`), or the default that ships inside the package (:func:`default_scheme`,
read with :mod:`importlib.resources`, never through the source tree). Nothing is read at import.
"""

from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from claimset.errors import ClaimsetError, read_text

# A project's scheme and its generated Label Studio config, relative to the project folder.
PROJECT_SCHEME = Path("schema") / "scheme.yaml"
PROJECT_CONFIG = Path("schema") / "label-config.xml"
PACKAGED_SCHEME = "data/scheme.yaml"  # inside the claimset package: a copy of this repository's schema/scheme.yaml

# The relation types the toolkit's code relies on (claims table, scoring, agreement, baseline); every
# label name is derived from them through the scheme.
SPEAKER_RELATION = "said_by"
CUE_RELATION = "cued_by"


@dataclass(frozen=True)
class SpanLabel:
    value: str
    hotkey: str
    background: str
    definition: str


@dataclass(frozen=True)
class RelationType:
    value: str
    head: str
    tail: str
    definition: str
    stance: bool = False
    max_per_head: int | None = None


@dataclass(frozen=True)
class Attribute:
    """A per-region control that fills column ``name`` of spans labelled ``label``."""

    name: str
    control: str  # "choices" or "textarea"
    from_name: str
    label: str
    required: bool
    definition: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scheme:
    name: str
    version: int
    text_name: str
    labels_name: str
    spans: tuple[SpanLabel, ...]
    relations: tuple[RelationType, ...]
    attributes: tuple[Attribute, ...]
    sha256: str = ""  # of the scheme's content (canonical JSON of the parsed YAML), not of its formatting
    source: str = ""  # the YAML text it was read from, recorded verbatim in every dataset written under it

    @property
    def span_labels(self) -> tuple[str, ...]:
        return tuple(label.value for label in self.spans)

    @property
    def relation_types(self) -> tuple[str, ...]:
        return tuple(rel.value for rel in self.relations)

    @property
    def stances(self) -> tuple[str, ...]:
        """Relation types that carry a claim's stance toward a target."""
        return tuple(rel.value for rel in self.relations if rel.stance)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(attr.name for attr in self.attributes))

    @property
    def claim_label(self) -> str:
        """The label relations start from: the head of ``said_by``."""
        rel = self.relation(SPEAKER_RELATION)
        assert rel is not None  # guaranteed by _check_consistency
        return rel.head

    @property
    def speaker_label(self) -> str:
        return self.label_of_role(SPEAKER_RELATION)

    @property
    def cue_label(self) -> str:
        return self.label_of_role(CUE_RELATION)

    @property
    def target_label(self) -> str:
        """The tail label of the stance relations (the first one's)."""
        return self.label_of_role(self.stances[0])

    def relation(self, value: str) -> RelationType | None:
        return next((rel for rel in self.relations if rel.value == value), None)

    def attribute_for(self, from_name: str) -> Attribute | None:
        return next((attr for attr in self.attributes if attr.from_name == from_name), None)

    def attributes_of(self, label: str) -> tuple[Attribute, ...]:
        return tuple(attr for attr in self.attributes if attr.label == label)

    def allowed_values(self, attribute: str) -> tuple[str, ...]:
        """Closed vocabulary of a choices attribute; empty for free text."""
        values: dict[str, None] = {}
        for attr in self.attributes:
            if attr.name == attribute:
                values.update(dict.fromkeys(attr.values))
        return tuple(values)

    def label_of_role(self, relation: str) -> str:
        """The tail label of a relation type (``said_by`` -> ``Speaker``)."""
        rel = self.relation(relation)
        if rel is None:
            raise KeyError(relation)
        return rel.tail


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise ClaimsetError(f"{where}: missing key '{key}'")
    return mapping[key]


def parse_scheme(data: dict[str, Any], where: str = "scheme", source: str = "") -> Scheme:
    """Build a :class:`Scheme` from the parsed YAML mapping, checking its internal consistency.

    ``source`` is the YAML text the mapping was parsed from, kept so that datasets can record it.
    """
    labels = _require(data, "labels", where)
    spans = tuple(
        SpanLabel(
            value=str(_require(s, "value", f"{where}: labels.spans")),
            hotkey=str(s.get("hotkey", "")),
            background=str(s.get("background", "")),
            definition=str(s.get("definition", "")),
        )
        for s in _require(labels, "spans", where)
    )
    relations = tuple(
        RelationType(
            value=str(_require(r, "value", f"{where}: relations")),
            head=str(_require(r, "head", f"{where}: relations")),
            tail=str(_require(r, "tail", f"{where}: relations")),
            definition=str(r.get("definition", "")),
            stance=bool(r.get("stance", False)),
            max_per_head=r.get("max_per_head"),
        )
        for r in _require(data, "relations", where)
    )
    attributes = tuple(
        Attribute(
            name=str(_require(a, "name", f"{where}: attributes")),
            control=str(_require(a, "control", f"{where}: attributes")),
            from_name=str(_require(a, "from_name", f"{where}: attributes")),
            label=str(_require(a, "label", f"{where}: attributes")),
            required=bool(a.get("required", False)),
            definition=str(a.get("definition", "")),
            values=tuple(str(v) for v in a.get("values", ())),
        )
        for a in data.get("attributes", ())
    )
    scheme = Scheme(
        name=str(data.get("name", "claimset")),
        version=int(data.get("version", 1)),
        text_name=str(_require(_require(data, "text", where), "name", f"{where}: text")),
        labels_name=str(_require(labels, "name", f"{where}: labels")),
        spans=spans,
        relations=relations,
        attributes=attributes,
        sha256=content_sha256(data),
        source=source,
    )
    _check_consistency(scheme, where)
    return scheme


def content_sha256(data: Any) -> str:
    """SHA-256 of a parsed scheme's content: key order and YAML formatting do not change it."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_consistency(scheme: Scheme, where: str) -> None:
    names = [scheme.name, scheme.text_name, scheme.labels_name, *scheme.span_labels, *scheme.relation_types,
             *(value for attr in scheme.attributes for value in (attr.name, attr.from_name, *attr.values))]
    for name in names:
        if not name or any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
            raise ClaimsetError(f"{where}: name {name!r} is empty or holds a control character")
    labels = set(scheme.span_labels)
    for rel in scheme.relations:
        for end in (rel.head, rel.tail):
            if end not in labels:
                raise ClaimsetError(f"{where}: relation '{rel.value}' names unknown label '{end}'")
    for attr in scheme.attributes:
        if attr.label not in labels:
            raise ClaimsetError(f"{where}: attribute '{attr.from_name}' names unknown label '{attr.label}'")
        if attr.control not in {"choices", "textarea"}:
            raise ClaimsetError(f"{where}: attribute '{attr.from_name}' has unknown control '{attr.control}'")
    for value in (SPEAKER_RELATION, CUE_RELATION):
        required = scheme.relation(value)
        if required is None or required.head != scheme.relations[0].head:
            raise ClaimsetError(f"{where}: relation '{value}' from the claim label is required by the toolkit")
    if not any(rel.head == scheme.relations[0].head for rel in scheme.relations if rel.stance):
        raise ClaimsetError(f"{where}: a stance relation from the claim label is required by the toolkit")
    hotkeys = [s.hotkey for s in scheme.spans if s.hotkey]
    if len(hotkeys) != len(set(hotkeys)):
        raise ClaimsetError(f"{where}: two labels share a hotkey")


def scheme_from_text(text: str, where: str) -> Scheme:
    """Parse and check a scheme given as YAML text; ``where`` names its origin in error messages."""
    return _parse_cached(text, where)


@functools.lru_cache(maxsize=8)
def _parse_cached(text: str, where: str) -> Scheme:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClaimsetError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ClaimsetError(f"{where}: expected a mapping at the top level")
    return parse_scheme(data, where, source=text)


def load_scheme(path: Path | None = None) -> Scheme:
    """Load and check the scheme file at ``path``; without one, the default that ships with claimset."""
    if path is None:
        return default_scheme()
    return scheme_from_text(read_text(path, "scheme"), str(path))


def default_scheme() -> Scheme:
    """The scheme that ships inside the package (the claimset scheme, version as in the file)."""
    text = resources.files("claimset").joinpath(PACKAGED_SCHEME).read_text(encoding="utf-8")
    return scheme_from_text(text, f"claimset/{PACKAGED_SCHEME}")


def project_scheme(path: Path | None = None) -> Scheme:
    """The scheme a command run inside a project uses: ``path`` if given, else the project's own
    ``schema/scheme.yaml`` (relative to the working folder) if there is one, else the packaged default."""
    if path is not None:
        return load_scheme(path)
    return load_scheme(PROJECT_SCHEME) if PROJECT_SCHEME.is_file() else default_scheme()


def _config_beside(scheme_file: Path | None) -> tuple[Scheme, Path]:
    """A project's scheme and the path of the label config generated from it (beside the scheme file)."""
    path = scheme_file or PROJECT_SCHEME
    if not path.is_file():
        raise ClaimsetError(f"{path}: no scheme file here; run 'claimset init' or pass --scheme FILE")
    return load_scheme(path), path.with_name(PROJECT_CONFIG.name)


def check_label_config(scheme_file: Path | None = None) -> Path:
    """Raise unless the label config beside the project's scheme file is what the scheme generates; its path."""
    scheme, config = _config_beside(scheme_file)
    current = config.read_text(encoding="utf-8") if config.is_file() else ""
    if current != label_config_xml(scheme):
        raise ClaimsetError(f"{config} is stale: run 'claimset scheme --write'")
    return config


def write_label_config(scheme_file: Path | None = None) -> Path:
    """(Re)generate the label config beside the project's scheme file; its path."""
    from claimset.tables import atomic_path

    scheme, config = _config_beside(scheme_file)
    with atomic_path(config) as tmp:
        tmp.write_text(label_config_xml(scheme), encoding="utf-8")
    return config


def label_config_xml(scheme: Scheme) -> str:
    """The Label Studio labeling config generated from the scheme, as pretty-printed XML."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="Tag every attributed claim, its speaker, cue and targets")
    labels = ET.SubElement(view, "Labels", name=scheme.labels_name, toName=scheme.text_name)
    for span in scheme.spans:
        ET.SubElement(
            labels, "Label", value=span.value, background=span.background, hotkey=span.hotkey,
            hint=span.definition,
        )
    # Layout, from the annotator's view in a real browser (tests/test_browser.py): the text on the left,
    # the selected region's fields in a column on its right that stays in view while the article scrolls
    # (below the text they were off-screen for a whole article); room above the first line, where Label
    # Studio draws the relation arrows and their labels, which otherwise cover the label buttons, and on
    # the left, where an arrow to an earlier line puts its label (cut off at the edge without it).
    columns = ET.SubElement(view, "View", style="display: flex; align-items: flex-start; gap: 2em")
    text_box = ET.SubElement(columns, "View", style="flex: 1 1 auto; min-width: 0; padding: 2.5em 0 0 2em")
    ET.SubElement(text_box, "Text", name=scheme.text_name, value=f"${scheme.text_name}")
    fields = ET.SubElement(columns, "View", style="flex: 0 0 18em; position: sticky; top: 0.5em")
    for attr in scheme.attributes:
        _attribute_control(fields, scheme, attr)
    relations = ET.SubElement(view, "Relations")
    for rel in scheme.relations:
        ET.SubElement(relations, "Relation", value=rel.value, hint=rel.definition)
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode") + "\n"


def _attribute_control(view: ET.Element, scheme: Scheme, attr: Attribute) -> None:
    box = ET.SubElement(view, "View", visibleWhen="region-selected", whenLabelValue=attr.label)
    ET.SubElement(box, "Header", value=f"{attr.label}: {attr.name.replace('_', ' ')}", size="5")
    common: dict[str, str] = {
        "name": attr.from_name,
        "toName": scheme.text_name,
        "perRegion": "true",
        # On the control itself, not only on the enclosing View: Label Studio's `required` check of a
        # per-region control looks at the control's own whenLabelValue; without it every region (a Cue,
        # a Speaker) must have a quote_type and an entity, and the annotator cannot submit.
        "whenLabelValue": attr.label,
        "required": "true" if attr.required else "false",
    }
    if attr.control == "choices":
        choices = ET.SubElement(box, "Choices", {**common, "choice": "single-radio", "showInline": "true"})
        for value in attr.values:
            ET.SubElement(choices, "Choice", value=value)
    else:
        ET.SubElement(
            box, "TextArea",
            {**common, "maxSubmissions": "1", "editable": "true", "rows": "1", "placeholder": attr.definition},
        )
