PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where `make run` and `make demo` listen: `make run PORT=9000 HOST=0.0.0.0` (default: SIMULATOR_HOST/PORT).
HOST ?= $(or $(SIMULATOR_HOST),127.0.0.1)
PORT ?= $(or $(SIMULATOR_PORT),8000)

.PHONY: install run test lint bench demo clean

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/simulator run --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check simulator tests bench examples
	$(BIN)/ruff format --check simulator tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/soap_load.py

# The demo routes (routes/routes.yaml) point at ${SIMULATOR_DEBTOR_URL:-http://127.0.0.1:8001}: the demo
# sets it to the reference debtor it starts on DEBTOR_PORT.
DEBTOR_PORT ?= 8001

demo: $(STAMP)
	@mkdir -p var && rm -f var/demo.db var/demo.db-wal var/demo.db-shm
	@SIMULATOR_DATABASE_URL=sqlite+aiosqlite:///./var/demo.db SIMULATOR_LOG_LEVEL=warning \
	  SIMULATOR_DEBTOR_URL=http://$(HOST):$(DEBTOR_PORT) \
	  $(BIN)/simulator run --host $(HOST) --port $(PORT) >var/demo-simulator.log 2>&1 & sim=$$!; \
	$(BIN)/python -m examples.reference_debtor --host $(HOST) --port $(DEBTOR_PORT) \
	  --simulator-url http://$(HOST):$(PORT) --no-auto-report >var/demo-debtor.log 2>&1 & debtor=$$!; \
	trap 'kill $$sim $$debtor 2>/dev/null; wait $$sim $$debtor 2>/dev/null' EXIT; \
	$(BIN)/python -m examples.walkthrough --simulator http://$(HOST):$(PORT) --debtor http://$(HOST):$(DEBTOR_PORT)

clean:
	rm -rf $(VENV) *.egg-info var
