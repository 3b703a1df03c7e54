# Two commands for users: `make demo` and `make test`. Each creates .venv and installs
# what it needs; a second run reinstalls nothing unless pyproject.toml, constraints.txt
# or the set of package files changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Every install goes through constraints.txt: it pins torch==2.13.0 (an unpinned torch
# resolves to a multi-GB CUDA build here) and every other version we tested with.
PIP := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
PKG_DIRS := ltvrec interactions encoders simulators envs agents ope serving
STAMP := $(VENV)/.installed
FILES := $(VENV)/.package-files
LIST_FILES := find $(PKG_DIRS) \( -name '*.py' -o -name 'py.typed' \) | sort
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint typecheck pytest data install lock clean FORCE

demo: $(FILES)
	$(BIN)/ltvrec data fetch ml-100k
	$(BIN)/ltvrec data validate ml-100k
	$(BIN)/ltvrec data describe ml-100k
	$(BIN)/ltvrec pipeline ml-100k --out runs/demo

# mypy (one core, ~50 s from a fresh clone) runs beside pytest's two workers: pytest
# leaves a core idle while its last test files finish, and the two together take less
# time than one after the other. Either failing fails `make test`.
test: lint
	@$(MAKE) --no-print-directory -j2 typecheck pytest

lint: $(FILES)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(FILES)
	$(BIN)/mypy $(PKG_DIRS) tests $(wildcard benchmarks/*.py)

# Tests are offline: the real data sets they read are fetched here, once, beforehand.
# Two workers (pytest-xdist), a test file per worker at a time: most tests are
# single-threaded Python, so 2 cores take ~5.5 instead of ~8 minutes.
pytest: data
	$(BIN)/pytest -q -n 2 --dist loadfile

data: $(FILES)
	$(BIN)/ltvrec data fetch ml-100k
	$(BIN)/ltvrec data fetch obd

install: $(FILES)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[dev,llm,scale]' --config-settings editable_mode=strict
	@$(LIST_FILES) > $(FILES)
	touch $@

# The strict editable install is a link tree (so mypy and IDEs can follow the
# package-dir mapping); it must be rebuilt when package files are added or removed.
# This file changes only when that list does, so edits alone reinstall nothing; the
# full install above writes it, so a fresh clone installs the package once.
$(FILES): $(STAMP) FORCE
	@$(LIST_FILES) > $@.new
	@if ! cmp -s $@.new $@; then \
		$(PIP) --no-deps -e . --config-settings editable_mode=strict -q && mv $@.new $@; \
	else rm -f $@.new; fi

# Re-pin constraints.txt to what is installed now (after changing pyproject.toml).
lock: $(STAMP)
	@{ sed -n '/^#/p' constraints.txt; \
	  $(PY) -m pip freeze --exclude-editable | grep -v -E '^(ltvrec|torch)[= ]' | sed 's/+cpu//'; \
	  echo "torch==2.13.0"; } > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
