# Two set-up commands that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/reclaim demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint typecheck unit

bench: install
	$(BIN)/python bench/face_roc.py
	$(BIN)/python bench/reposts.py
	$(BIN)/python bench/robust_reposts.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/evidence_export.py
	$(BIN)/python bench/source_photo.py
	$(BIN)/python bench/pixel_auc.py
	$(BIN)/python bench/forensics_time.py
	$(BIN)/python bench/field_encryption.py
	$(BIN)/python bench/lookup_load.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
