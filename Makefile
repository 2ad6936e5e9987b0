# Two commands after cloning:  `make demo` (train the VAE on the embedded digits)  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup

$(BIN)/dgm: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first, so that no multi-GB CUDA build is pulled in
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/dgm

setup: $(BIN)/dgm

demo: setup
	$(BIN)/dgm train vae

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
