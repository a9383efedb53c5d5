# Two entry points (README "Quick start"): `make demo` and `make test`. Both create the
# virtual environment on first use, so a fresh machine needs only Python 3.11 and pip.
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: install demo test lint bench pipeline

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,spark]'
	touch $@

demo: install
	$(BIN)/smo-eval demo

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

pipeline: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc repro pipelines/dvc.yaml

bench: install
	$(BIN)/python benchmarks/run.py
