# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DB ?= sqlite:///./var/sessionhub.db
HTTP ?= 127.0.0.1:8080
# the CoAP address demo prints; serve listens there by default (and goes on without CoAP if it is taken)
COAP ?= 127.0.0.1:5683

.PHONY: run test lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## run: set up, seed the demo account, print a key and curl lines, serve on the embedded SQLite default
run: $(STAMP)
	$(BIN)/sessionhub demo --db $(DB) --http $(HTTP) --coap $(COAP)
	$(BIN)/sessionhub serve --db $(DB) --http $(HTTP)

## system-deps: the real third-party clients and load tools the tests and benchmarks drive
system-deps:
	bash scripts/system-deps.sh

## lint: ruff and mypy --strict
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## test: set up, lint, and run the whole suite
test: $(STAMP) system-deps lint
	$(BIN)/pytest

## bench: the speed figures, each beside a reference measured in the same run
bench: $(STAMP) system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
