# The two Quick start commands: `make run` and `make test`. Each creates or refreshes .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8080
WORKERS ?= 3

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# On this computer only (127.0.0.1), `make run` offers the dashboard's local sign-in; bound to
# another address (HOST=0.0.0.0) it serves without it.
LOCAL_SIGNIN := $(if $(filter 127.0.0.1 localhost ::1,$(HOST)),--insecure-dev-auth,)

run: $(STAMP)
	$(BIN)/mailbeacon serve --host $(HOST) --port $(PORT) $(LOCAL_SIGNIN)

test: $(STAMP)
	scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node --test appsscript/tests/
	$(BIN)/python -m pytest -n $(WORKERS) --dist worksteal --durations=20

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
