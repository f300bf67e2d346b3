# The whole set-up is these two targets. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-12)

# The local site runtime: nginx, php-fpm with the extensions WordPress needs, WordPress and its
# default theme, MariaDB for the sites' databases, nftables and util-linux for the sites' sandbox,
# from Debian's packages.
SITE_PACKAGES := nginx:nginx-light php-fpm8.2:php8.2-fpm \
	/etc/php/8.2/mods-available/mysqli.ini:php8.2-mysql /etc/php/8.2/mods-available/gd.ini:php8.2-gd \
	/etc/php/8.2/mods-available/curl.ini:php8.2-curl /etc/php/8.2/mods-available/dom.ini:php8.2-xml \
	/etc/php/8.2/mods-available/mbstring.ini:php8.2-mbstring /etc/php/8.2/mods-available/zip.ini:php8.2-zip \
	/etc/php/8.2/mods-available/intl.ini:php8.2-intl /usr/share/wordpress/wp-settings.php:wordpress \
	/usr/share/wordpress/wp-content/themes/twentytwentythree:wordpress-theme-twentytwentythree \
	/usr/sbin/mariadbd:mariadb-server mariadb:mariadb-client nft:nftables unshare:util-linux

.PHONY: run test lint services system

# The pinned requirements, then the project itself, editable: that installs the `aipress` command.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

system:
	@bin/ensure-system-packages $(SITE_PACKAGES)

services: $(STAMP) system
	@$(PY) bin/services.py

run: services node_modules/.installed
	@$(PY) manage.py collectstatic --noinput -v0
	DJANGO_DEBUG=1 $(PY) manage.py setup_platform
	DJANGO_DEBUG=1 $(PY) manage.py demo
	@echo "Starting web, worker and beat (Ctrl-C stops them all)."
	DJANGO_DEBUG=1 PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho start

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

test: services lint node_modules/.installed
	@bin/ensure-system-packages chromium:chromium
	@$(PY) manage.py collectstatic --noinput -v0
	# Two workers, each with its own test database, Celery queue, nginx and php-fpm (conftest.py): the
	# tests mostly wait on real services, so two halve the time even on two cores. A file stays on one.
	$(VENV)/bin/pytest -n 2 --dist loadfile --ignore=aipress/tests/test_api_contract.py
	# Alone: schemathesis gives every API operation's test the same id, and xdist would run one of them.
	$(VENV)/bin/pytest aipress/tests/test_api_contract.py
