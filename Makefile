# Aftercare: `make run` starts the product, `make test` runs every check and test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# `make run` also receives the support mailbox's mail over SMTP on this port; MAIL_IN_PORT=0 turns it off
MAIL_IN_PORT ?= 2525

.PHONY: run test lint unit bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

ASSETS := node_modules/.installed
$(ASSETS): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(ASSETS)

# Browser tests drive Debian's Chromium; install it when missing (CI and developers run as root here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null

install: $(STAMP) $(ASSETS)

run: install
	$(BIN)/aftercare demo
	AFTERCARE_MAIL_IN_PORT=$(MAIL_IN_PORT) $(BIN)/aftercare serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy engine api
	$(BIN)/lint-imports

# the suite in parallel (each test process with its own PostgreSQL database and free ports): many tests wait on a
# browser, a server or SMTP, so it runs more processes than cores (TEST_WORKERS=1: serial); an idle process takes
# queued tests from a busy one (worksteal), so the long browser journeys do not all end up at the tail of one process
TEST_WORKERS ?= 4

unit: install $(CHROMIUM)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal --durations=20

test: lint unit

bench: install
	$(BIN)/python -m bench.lifecycle
	$(BIN)/python -m bench.worklist
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.outbox
	$(BIN)/python -m bench.processes
	$(BIN)/python -m bench.login
	$(BIN)/python -m bench.timers
	$(BIN)/python -m bench.http_overhead

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
