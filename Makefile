# Chuyi Platform: every command a developer, CI or an operator runs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: setup up down logs demo test test-unit bench bench-e2e fuzz k8s-validate

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	touch $@

# The AsyncAPI parser (node) that validates docs/asyncapi.yaml in the tests.
ASYNCAPI_TOOL := tools/asyncapi/node_modules/.installed
$(ASYNCAPI_TOOL): tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed $(ASYNCAPI_TOOL)

up: setup
	$(PY) -m chuyi up

# A whole selection round through the public HTTP API (chuyi/demo/driver.py); the stack stays up.
# The services it starts may close a public notice window within seconds (a demo aid).
demo: export CHUYI_ALLOW_SHORT_NOTICE := 1
demo: setup
	$(PY) -m chuyi up
	$(PY) -m chuyi demo

down:
	$(PY) -m chuyi down

logs:
	$(PY) -m chuyi logs

test: setup
	$(PY) -m pytest -q

test-unit: setup
	$(PY) -m pytest -q tests/unit

# Every benchmark, one after another (about 15 minutes on 2 cores); writes docs/benchmarks.md.
bench: setup
	$(PY) bench/all.py

# Schemathesis over the live gateway (tests/fuzz; `make test` runs a shorter pass of the same).
fuzz: export FUZZ_EXAMPLES ?= 60
fuzz: setup
	$(PY) -m pytest -q tests/fuzz

# One benchmark: bench-relay, bench-submit, bench-assign, bench-gateway, bench-rank,
# bench-events, bench-memory run bench/<name>.py; bench-e2e runs bench/e2e_latency.py.
bench-e2e: setup
	$(PY) bench/e2e_latency.py

bench-%: setup
	$(PY) bench/$*.py

k8s-validate: setup
	bash deploy/k8s/validate.sh
