"""The pandera models as data: :data:`claimset.models.RULES`, which the validation's pre-check reads instead of
the models (so that pandera is imported only for a batch the pre-check cannot pass), says what the models say."""

from __future__ import annotations

import subprocess
import sys

import pytest

import claimset.models as models
from claimset.scheme import default_scheme
from claimset.tables import TABLES


@pytest.mark.parametrize("name", list(TABLES))
def test_the_rules_are_those_of_the_models(name: str) -> None:
    scheme = default_scheme()
    assert models.table_rules(name, scheme) == models.rules_of(models.table_schema(name, scheme))
    assert list(models.RULES[name].columns) == list(TABLES[name].names)


@pytest.mark.parametrize("name", list(TABLES))
def test_the_column_names_are_the_models(name: str) -> None:
    model = models.MODELS[name]
    names = {key: value for key, value in vars(models.COLUMNS[name]).items() if not key.startswith("_")}
    assert names == {column: column for column in model.to_schema().columns}
    assert all(getattr(model, key) == value for key, value in names.items())


def test_a_rule_the_models_do_not_have_is_told_apart() -> None:
    import pandera.pandas as pandera

    schema = models.table_schema("spans", default_scheme())
    changed = schema.update_column("start", checks=[pandera.Check.ge(1)])
    assert models.rules_of(changed) != models.table_rules("spans", default_scheme())


def test_the_import_and_validation_modules_do_not_import_pandera() -> None:
    code = "import sys, claimset.ingest, claimset.validate; print('pandera' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
