# Opscore: `make run` starts the whole system, `make test` runs lint + the suite.
# The suite runs on every core (pytest-xdist, each worker on its own test database); the few
# tests marked `serial` restart the shared database server, so they run after, alone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Four test workers (two on one core): a worker spends much of its time waiting on Postgres,
# a subprocess or a browser, so two cores run four faster than two (6 min against 7 here).
TEST_WORKERS ?= $(shell n=$$(nproc); [ $$n -ge 2 ] && echo 4 || echo 2)

.PHONY: run test lint format install db-stop clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py up

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest --numprocesses=$(TEST_WORKERS) --maxschedchunk=8 -m "not serial"
	$(VENV)/bin/pytest -m serial

lint: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

db-stop: install
	$(PY) -m opscore.embedded_db stop

clean:
	rm -rf $(VENV) .data
