# claimset: `make gold` builds and validates the gold dataset; `make test` runs the whole suite.
# Both start from nothing but python3 (>= 3.11): they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: gold test lint check labelstudio browser postgres screenshots clean help scheme predictions-schema

help:
	@echo "make gold   - create .venv, import annotations/raw into annotations/annotators, adjudicate into annotations/gold, validate, print stats"
	@echo "make test   - create .venv with dev extras, install Label Studio, Chromium and PostgreSQL, run every test"
	@echo "make lint   - ruff and mypy"
	@echo "make screenshots - regenerate docs/img/ from a real Label Studio in headless Chromium"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

# The default scheme ships inside the package as a copy of schema/scheme.yaml (a test catches drift).
scheme: src/claimset/data/scheme.yaml

src/claimset/data/scheme.yaml: schema/scheme.yaml
	cp $< $@

# The JSON Schema of predictions files is generated from claimset.predictions (a test catches drift); the
# package ships it, and schema/ holds a copy for extractors written in other languages.
predictions-schema: $(VENV)/.installed
	$(BIN)/python -c 'from claimset.predictions import json_schema_text; print(json_schema_text(), end="")' \
		> src/claimset/data/predictions.schema.json
	cp src/claimset/data/predictions.schema.json schema/predictions.schema.json

gold: $(VENV)/.installed
	$(BIN)/claimset scheme --check
	$(BIN)/claimset build --croissant
	$(BIN)/claimset stats

labelstudio:
	scripts/label-studio install

browser:
	@command -v chromium >/dev/null && fc-list | grep -qi "noto color emoji" || { \
		echo "installing Debian's chromium and fonts-noto-color-emoji"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; }

# The tests run Label Studio on PostgreSQL too, on a cluster of their own (scripts/label-studio): they need
# Debian's server binaries, not its service; the package is installed without the default cluster.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing Debian's postgresql (binaries only: no cluster is created or started)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common && \
		sed -i 's/^#* *create_main_cluster *=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

test: $(VENV)/.installed-dev labelstudio browser postgres
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

screenshots: $(VENV)/.installed-dev labelstudio browser
	scripts/screenshots

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
