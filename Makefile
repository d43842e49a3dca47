# `make run` and `make test` do all set-up on a fresh machine: they create .venv, install the
# pinned requirements and write a local .env with a generated SECRET_KEY when there is none.
# `make` alone (or `make help`) lists the targets: each one's `## ` comment.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The address of `make run`'s keyless server: 127.0.0.1 unless given on the command line
# (`make run HOST=...`); a HOST in the environment is gunicorn's (gunicorn.conf.py), not this.
HOST = 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# e.g. make bench BENCH_ARGS='--database postgres://postgres@127.0.0.1:5432/my_bench --port 8099'
BENCH_ARGS ?=
# make bench-reconcile: contacts to generate, and the PostgreSQL database it creates and drops.
BENCH_CONTACTS ?= 1000000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bench_reconcile
# make bench-events: how many events it sequences and delivers.
BENCH_EVENTS ?= 20000
# make bench-instructions: the PostgreSQL database it seeds (and copies) for the counted requests.
BENCH_INSTRUCTIONS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bench_instructions
# make test-pgbouncer: what runs through the pooler.
PGBOUNCER_TESTS ?= -m "postgres or pooler" contacts/tests
# make bench-smoke: the PostgreSQL server its databases are created on.
BENCH_SMOKE_SERVER ?= postgres://postgres@127.0.0.1:5432

.DEFAULT_GOAL := help
.PHONY: help run worker test test-pgbouncer test-replica pgbouncer lint format install install-dev \
	requirements migrate bench bench-reconcile bench-events bench-instructions bench-smoke wrk \
	valgrind clean

help: ## list these targets
	@grep -hE '^[a-zA-Z.][a-zA-Z._-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## create .venv and install requirements.txt
install-dev: $(VENV)/.installed-dev ## also the test and lint tools (requirements-dev.txt)

.env: ## write a local .env from .env.example with a fresh SECRET_KEY (when there is none)
	sed "s|^SECRET_KEY=.*|SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')|" .env.example > .env

migrate: install .env ## apply the database migrations
	$(BIN)/python manage.py migrate --noinput

# The loopback development server answers without API keys (unless API_KEYS_REQUIRED=true is given),
# so that the README's curl examples work as they are; every other way of starting it requires them.
run: migrate ## serve on http://127.0.0.1:8000 (HOST=, PORT=) with gunicorn, without API keys
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	API_KEYS_REQUIRED=$${API_KEYS_REQUIRED:-false} $(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) \
		bitespeed.wsgi

# The events worker beside `make run`, in another terminal: sequences identity events and sends the
# webhooks (docs/events.md); Ctrl-C stops it after its current batch.
worker: migrate ## run the events worker (webhooks) beside `make run`
	$(BIN)/python manage.py deliver_events

# The browser tests need Debian's chromium (.ci/run installs it); without it they are skipped, and
# this says so first.
test: install-dev .env ## run the test suite (SQLite unless DATABASE_URL is set; PYTEST_ARGS=...)
	@command -v chromium >/dev/null || echo "chromium not found: the browser tests" \
		"(contacts/tests/test_browser.py) are skipped; apt-get install chromium to run them" >&2
	$(BIN)/pytest $(PYTEST_ARGS)

# The PostgreSQL tests of concurrency, faults and lock timeouts, and the API's, through a PgBouncer
# of their own in transaction mode (.ci/pgbouncer.py, Debian's pgbouncer; POSTGRES_URL is the
# server behind it, default postgres://postgres@127.0.0.1:5432/postgres).
test-pgbouncer: install-dev .env pgbouncer ## the PostgreSQL and API tests through a PgBouncer of their own
	$(BIN)/python .ci/pgbouncer.py -- $(BIN)/pytest $(PGBOUNCER_TESTS)

# The read replica's routing and fallbacks against a real streaming standby: a throwaway primary
# and standby of their own on spare loopback ports (.ci/replica.py: initdb, pg_basebackup).
test-replica: install-dev .env ## the read replica's tests against a streaming standby of their own
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python .ci/replica.py -- $(BIN)/pytest -m replica contacts/tests

pgbouncer: ## install Debian's pgbouncer when it is missing
	command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || { \
		$$([ "$$(id -u)" = 0 ] || echo sudo) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$([ "$$(id -u)" = 0 ] || echo sudo) \
		apt-get install -y -qq pgbouncer </dev/null; }

wrk: ## install wrk, the load generator, when it is missing
	command -v wrk >/dev/null || { $$([ "$$(id -u)" = 0 ] || echo sudo) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$([ "$$(id -u)" = 0 ] || echo sudo) \
		apt-get install -y -qq wrk </dev/null; }

valgrind: ## install valgrind, whose callgrind counts instructions, when it is missing
	command -v valgrind >/dev/null || { $$([ "$$(id -u)" = 0 ] || echo sudo) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$([ "$$(id -u)" = 0 ] || echo sudo) \
		apt-get install -y -qq valgrind </dev/null; }

# Load benchmark of /identify/ on PostgreSQL with gunicorn and wrk (bench/RESULTS.md); ~5 minutes.
bench: install .env wrk ## load benchmark of /identify/ on PostgreSQL (~5 minutes; BENCH_ARGS=...)
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install-dev ## ruff format --check, ruff check, hadolint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

bench-reconcile: install ## import and reconcile BENCH_CONTACTS contacts on PostgreSQL
	$(BIN)/python bench/reconcile.py --contacts $(BENCH_CONTACTS) --database-url $(BENCH_DATABASE_URL)

# Identity events on PostgreSQL: sequencing and webhook delivery to a local receiver (bench/events.py).
bench-events: install .env ## sequence and deliver BENCH_EVENTS identity events on PostgreSQL
	$(BIN)/python -m bench.events --events $(BENCH_EVENTS)

# Instructions per /identify/ request, counted by callgrind in one process: the figure that stays
# the same from one hour to the next, where the load test's req/s does not (bench/instructions.py).
bench-instructions: install .env valgrind ## instructions per /identify/ request, by callgrind (~1 minute)
	$(BIN)/python -m bench.instructions --database $(BENCH_INSTRUCTIONS_DATABASE_URL)

# Every benchmark in seconds, with the default settings, on databases of their own: CI runs this
# so that a change that breaks one fails.
bench-smoke: install .env wrk valgrind ## every benchmark in seconds, as CI runs them
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python -m bench.run --database $(BENCH_SMOKE_SERVER)/bitespeed_bench_smoke \
		--clusters 2000 --warmup 1 --empty-duration 3 --duration 3 --size-duration 1 --replay 200
	$(BIN)/python bench/reconcile.py --contacts 20000 \
		--database-url $(BENCH_SMOKE_SERVER)/bench_reconcile_smoke
	$(BIN)/python -m bench.events --events 2000 \
		--database-url $(BENCH_SMOKE_SERVER)/bench_events_smoke
	$(BIN)/python -m bench.instructions --database $(BENCH_SMOKE_SERVER)/bench_instructions_smoke \
		--clusters 500 --warmup 5 --requests 20

format: install-dev ## ruff format and ruff check --fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

requirements: $(BIN)/python ## pin requirements*.txt again from requirements*.in (pip-compile)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links requirements-dev.in

clean: ## remove .venv, collected static files and tool caches
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis
