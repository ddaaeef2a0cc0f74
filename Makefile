# Two commands: `make demo` runs the main job end to end, `make test` runs the test suite.
# Both create the virtualenv on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint chaos-report clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/harvest-sync demo

test: $(BIN)/.installed
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check domain consumers producers infra harvest_sync

# The chaos scenarios at a larger size (default 600 people, ~290,000 entries; Harvest down for
# two minutes), with a table.
chaos-report: $(BIN)/.installed
	CHAOS_PEOPLE=$${CHAOS_PEOPLE:-600} CHAOS_OUTAGE_S=$${CHAOS_OUTAGE_S:-120} \
		$(BIN)/pytest tests/integration/chaos -p no:cacheprovider -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
