# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
#
# Installs are reproducible: pip installs from the pins in requirements/ (constraints files):
#   requirements/runtime.txt  what `make run` installs (the package and its runtime dependencies, asyncpg too)
#   requirements/dev.txt      what `make test` installs (runtime + the `dev` extra: test and lint tools)
# A new dependency: add it to pyproject.toml (with an upper bound when the code relies on its internals),
# then `make lock` re-resolves both files in throw-away venvs; commit pyproject.toml and requirements/ together.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.runtime-stamp
# make run keeps its database in this clone (absolute, so the printed CLI line works from anywhere);
# the sessionhub command's own default is under $XDG_DATA_HOME (sessionhub serve --help says where)
DB ?= sqlite:///$(CURDIR)/var/sessionhub.db
HTTP ?= 127.0.0.1:8080
# empty: serve's default CoAP address (127.0.0.1:5683, skipped with a warning when taken)
COAP ?=

.PHONY: run demo test check lint lock bench soak system-deps clean

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml requirements/runtime.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -c requirements/runtime.txt -e .
	touch $@

$(STAMP): pyproject.toml requirements/dev.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -c requirements/dev.txt -e '.[dev]'
	touch $@ $(RUN_STAMP)

## run: set up (runtime only), serve on the embedded SQLite database, and once listening seed the demo
## account and print a key with lines that work as pasted
run: $(RUN_STAMP)
	$(BIN)/sessionhub serve --demo --db $(DB) --http $(HTTP) $(if $(COAP),--coap $(COAP))

## demo: make run plus the simulators (a race, a garage, a host stand) driving the real APIs: the console moves
demo: $(RUN_STAMP)
	bash scripts/demo.sh $(BIN) $(DB) $(HTTP) $(COAP)

## system-deps: the real third-party clients and load tools the tests and benchmarks drive
system-deps:
	bash scripts/system-deps.sh

## lint: ruff and mypy --strict (package, tests and benchmarks: pyproject.toml [tool.mypy] files)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## check: the fast inner loop: lint, then the tests that drive no system package (marker `system`), slow ones left out
check: lint
	$(BIN)/pytest -q -m "not system and not slow"

## test: set up, lint, and run the whole suite
test: $(STAMP) system-deps lint
	$(BIN)/pytest

## lock: re-resolve requirements/*.txt from pyproject.toml (latest releases within its bounds)
lock:
	bash scripts/lock.sh

## bench: the speed figures, each beside a reference measured in the same run
bench: $(STAMP) system-deps
	$(BIN)/python -m bench

## soak: 10 minutes of realistic load with attackers and faults against a real server, per store (SQLite,
## then PostgreSQL when one answers at SESSIONHUB_TEST_PG); prints what legitimate clients saw and checks that
## nothing acknowledged was lost (SOAK_ARGS="--seconds 120 --streams 1000" for a shorter one)
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
