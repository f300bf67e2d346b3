# The whole set-up is these two targets. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: run test lint services

$(STAMP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

services: $(STAMP)
	@$(PY) bin/services.py

run: services
	DJANGO_DEBUG=1 $(PY) manage.py setup_platform
	DJANGO_DEBUG=1 $(PY) manage.py demo
	@echo "Starting web, worker and beat (Ctrl-C stops them all)."
	DJANGO_DEBUG=1 PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho start

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: services lint node_modules/.installed
	@bin/ensure-system-packages chromium:chromium
	@$(PY) manage.py collectstatic --noinput -v0
	$(VENV)/bin/pytest
