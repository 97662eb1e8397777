# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check install migrate seed clean fuzz security browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Run the whole system on the embedded default (SQLite + filesystem broker): API, worker, beat, demo data.
run: $(STAMP)
	./scripts/run-dev

## Run the test suite on PostgreSQL + Redis (localhost by default; DATABASE_URL / REDIS_URL override).
test: $(STAMP)
	$(BIN)/pytest

## Lint, format check and the layers contract (CI runs these before the suite).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

check: lint test

## Parts of `make test`, for a quick look: the schema fuzzer (FUZZ_MAX_EXAMPLES=50 for a deeper
## run), the security suite, the ops flows in headless Chromium (screenshots in var/artifacts/).
fuzz: $(STAMP)
	$(BIN)/pytest tests/fuzz

security: $(STAMP)
	$(BIN)/pytest tests/security

browser: $(STAMP)
	$(BIN)/pytest -m browser tests/browser

clean:
	rm -rf var
