from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pandera.errors import SchemaError, SchemaErrors

from claimset.errors import ClaimsetError
from claimset.models import AnnotationsModel, RelationsModel, SpansModel, table_schema
from claimset.scheme import default_scheme, label_config_xml, load_scheme, parse_scheme
from claimset.tables import ANNOTATIONS, SPANS

ROOT = Path(__file__).resolve().parents[1]
SCHEME_FILE = ROOT / "schema" / "scheme.yaml"
CONFIG_FILE = ROOT / "schema" / "label-config.xml"


def test_committed_label_config_is_generated_from_the_scheme() -> None:
    assert CONFIG_FILE.read_text(encoding="utf-8") == label_config_xml(load_scheme(SCHEME_FILE)), (
        "schema/label-config.xml is stale: run 'claimset scheme --write'"
    )


def test_packaged_scheme_is_a_copy_of_the_schema_file() -> None:
    packaged = ROOT / "src" / "claimset" / "data" / "scheme.yaml"
    assert packaged.read_bytes() == SCHEME_FILE.read_bytes(), "run 'make scheme' to copy schema/scheme.yaml"
    assert default_scheme().source == SCHEME_FILE.read_text(encoding="utf-8")


def test_scheme_hash_ignores_formatting_but_not_content(tmp_path: Path) -> None:
    reformatted = tmp_path / "reformatted.yaml"
    reformatted.write_text(yaml.safe_dump(_scheme_data(), sort_keys=True, width=200), encoding="utf-8")
    assert load_scheme(reformatted).sha256 == load_scheme(SCHEME_FILE).sha256
    data = _scheme_data()
    data["version"] = 2
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_scheme(changed).sha256 != load_scheme(SCHEME_FILE).sha256


def test_config_has_every_label_with_hotkey_and_colour() -> None:
    scheme = load_scheme()
    root = ET.fromstring(label_config_xml(scheme))
    labels = {el.get("value"): el for el in root.iter("Label")}
    assert list(labels) == ["Claim", "Speaker", "Cue", "Target"]
    for span in scheme.spans:
        assert labels[span.value].get("hotkey") == span.hotkey
        assert labels[span.value].get("background") == span.background
    assert [el.get("value") for el in root.iter("Relation")] == list(scheme.relation_types)
    per_region = {el.get("name"): el for el in root.iter() if el.get("perRegion") == "true"}
    assert set(per_region) == {"quote_type", "speaker_entity", "target_entity"}
    assert [c.get("value") for c in per_region["quote_type"].iter("Choice")] == ["direct", "indirect", "mixed"]


def test_models_take_allowed_values_from_the_scheme() -> None:
    scheme = load_scheme()
    spans = table_schema("spans", scheme)
    assert list(spans.columns[SpansModel.label].checks[-1].statistics["allowed_values"]) == ["Claim", "Speaker",
                                                                                             "Cue", "Target"]
    relations = table_schema("relations", scheme)
    allowed_types = relations.columns[RelationsModel.type].checks[-1].statistics["allowed_values"]
    assert list(allowed_types) == ["said_by", "cued_by", "against", "supports", "about"]
    assert set(scheme.attribute_names) <= set(SPANS.names)


def test_models_refuse_a_column_the_table_does_not_have() -> None:
    frame = ANNOTATIONS.empty_table().to_pandas()
    assert AnnotationsModel.validate(frame).empty
    frame["note"] = pd.Series([], dtype=object)
    with pytest.raises((SchemaError, SchemaErrors), match="column 'note' not in DataFrameSchema"):
        AnnotationsModel.validate(frame)


def _scheme_data() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(SCHEME_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["relations"][0].update(tail="Person"), "relation 'said_by' names unknown label 'Person'"),
        (lambda d: d["attributes"][0].update(label="Quote"), "attribute 'quote_type' names unknown label 'Quote'"),
        (lambda d: d["attributes"][0].update(control="slider"), "attribute 'quote_type' has unknown control 'slider'"),
        (lambda d: d["labels"]["spans"][1].update(hotkey="1"), "two labels share a hotkey"),
        (lambda d: d.pop("relations"), "missing key 'relations'"),
    ],
)
def test_inconsistent_scheme_is_refused(mutate, message) -> None:  # type: ignore[no-untyped-def]
    data = _scheme_data()
    mutate(data)
    with pytest.raises(ClaimsetError, match=f"^{re.escape(f'scheme.yaml: {message}')}$"):
        parse_scheme(data, "scheme.yaml")


def test_unreadable_scheme(tmp_path: Path) -> None:
    bad = tmp_path / "scheme.yaml"
    bad.write_text("labels: [unclosed", encoding="utf-8")
    with pytest.raises(ClaimsetError, match="not valid YAML"):
        load_scheme(bad)


def test_scheme_without_the_relations_the_toolkit_needs_is_refused() -> None:
    data = _scheme_data()
    data["relations"] = [r for r in data["relations"] if r["value"] != "cued_by"]
    with pytest.raises(ClaimsetError, match=r"^scheme\.yaml: relation 'cued_by' from the claim label is required by "
                                            r"the toolkit$"):
        parse_scheme(data, "scheme.yaml")


@pytest.mark.parametrize("name", ["clai\x00mset", "", "tab\there"])
def test_names_with_control_characters_are_refused(name: str) -> None:
    data = _scheme_data()
    data["name"] = name
    with pytest.raises(ClaimsetError, match="is empty or holds a control character"):
        parse_scheme(data, "scheme.yaml")
