# Two set-up commands that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench fuzz fuzz-corpus clean

install: $(STAMP)

# The `video` extra (vPDQ) builds from source against FFmpeg's development packages: installed only when
# pkg-config finds them, so a fresh machine without them still installs (videos then get no vPDQ, and
# scans say so).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if pkg-config --exists libavformat libavcodec libswscale libavutil libavdevice libavfilter libswresample 2>/dev/null \
		&& command -v cmake >/dev/null; then \
		$(BIN)/python -m pip install --quiet -e '.[dev,video,cluster]'; \
	else \
		echo "FFmpeg development packages not found: installing without vPDQ (the 'video' extra)"; \
		$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'; \
	fi
	$(BIN)/python -m pip install --quiet -e '.[capture]' || echo "the 'capture' extra did not install: capture and the WACZ-building tests skip"
	touch $(STAMP)

demo: install
	$(BIN)/reclaim demo

lint: install
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz
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
	$(BIN)/python bench/vpdq.py

# Coverage-guided fuzzing (atheris), FUZZ_SECONDS per target; crashes land in fuzz/crashes/TARGET/.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= telegram telegram_html media zip evidence custody custody_db
fuzz: install
	$(BIN)/python -m pip install --quiet --only-binary=:all: -e '.[fuzz]'
	for t in $(FUZZ_TARGETS); do $(BIN)/python fuzz/run.py $$t --seconds $(FUZZ_SECONDS) || exit 1; done
	$(BIN)/python fuzz/structured.py --runs 2000

fuzz-corpus: install
	$(BIN)/python fuzz/make_corpus.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
