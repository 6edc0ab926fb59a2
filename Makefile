# One command to run the product, one to test it. Both set up .venv with the pinned requirements.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: venv demo serve test bench lint clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py simulate_marketplace --manufacturers 500 --customers 300 --days 365 --seed 42
	$(PY) manage.py personalization_rebuild
	$(PY) manage.py predictions_train --if-missing
	$(PY) manage.py setup_periodic_tasks
	$(PY) manage.py demo_accounts
	./scripts/demo_serve.sh

test: venv
	$(PY) -m pytest

bench: venv
	$(PY) -m bench.run

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
