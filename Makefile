# Chuyi Platform: every command a developer, CI or an operator runs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: setup up down logs demo test test-unit chaos bandit lint bench bench-e2e bench-assign-national fuzz k8s-validate

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	touch $@

# The AsyncAPI parser (node) that validates docs/asyncapi.yaml in the tests.
ASYNCAPI_TOOL := tools/asyncapi/node_modules/.installed
$(ASYNCAPI_TOOL): tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --no-audit --no-fund --loglevel=error
	touch $@

# The offline Kubernetes validation tools (deploy/k8s/validate.sh) in their own venv, so that the
# tests of the manifests do not spend their first minute installing them. Without the network the
# install fails, setup goes on and those tests say why they skip.
K8S_TOOLS := .venv-tools/.requirements.sha256
$(K8S_TOOLS): deploy/requirements-tools.txt
	bash deploy/k8s/validate.sh --install-only || echo "setup: the Kubernetes validation tools could not be installed"

setup: $(VENV)/.installed $(ASYNCAPI_TOOL) $(K8S_TOOLS)

up: setup
	$(PY) -m chuyi up

# A whole selection round and its years through the public HTTP API (chuyi/demo/driver.py, years.py);
# the stack stays up. The services it starts may close a public notice window within seconds, and
# remind of a near annual-report deadline within seconds (demo aids).
demo: export CHUYI_ALLOW_SHORT_NOTICE := 1
demo: export REPORT_REMINDER_CHECK_S := 5
demo: setup
	$(PY) -m chuyi up
	$(PY) -m chuyi demo

down:
	$(PY) -m chuyi down

logs:
	$(PY) -m chuyi logs

test: setup
	$(PY) -m pytest -q --durations=25

# Static security checks: any finding of medium severity or more fails (docs/security.md).
bandit: setup
	$(VENV)/bin/bandit -q -r services chuyi --severity-level medium

# The layering (import-linter contracts, [tool.importlinter]), ruff's lint and format check ([tool.ruff]) and mypy strict on
# the kernel and every domain ([tool.mypy]); .ci/run runs it before the tests.
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check services chuyi tests bench examples
	$(VENV)/bin/ruff format --check services chuyi tests bench examples
	$(VENV)/bin/mypy

test-unit: setup
	$(PY) -m pytest -q tests/unit

# The fault suite at length (tests/chaos; `make test` runs a short pass of the same): every
# service, the wire server and a gateway worker killed with -9, a broker cut of
# CHAOS_BROKER_CUT_S (300) seconds, duplicate events, under steady load; prints a table per
# fault and a last JSON line. Then a node of a three-node RabbitMQ cluster of the test's own
# killed -9 under load, two replicas of every service (test_broker_cluster.py; alone:
# CHAOS_CLUSTER=1). About 12 minutes with the default cut.
chaos: export CHAOS_LONG := 1
chaos: setup
	$(PY) -m pytest -q -s tests/chaos

# Every benchmark, one after another (about 15 minutes on 2 cores); writes docs/benchmarks.md.
bench: setup
	$(PY) bench/all.py

# Schemathesis over the live gateway (tests/fuzz; `make test` runs a shorter pass of the same).
fuzz: export FUZZ_EXAMPLES ?= 60
fuzz: setup
	$(PY) -m pytest -q tests/fuzz

# One benchmark: bench-relay, bench-submit, bench-assign, bench-gateway, bench-rank,
# bench-events, bench-audit, bench-by_id, bench-materials, bench-memory, bench-read_under_backlog run bench/<name>.py;
# bench-e2e runs bench/e2e_latency.py; bench-assign-national runs bench/assign_national.py
# (300 000 applications × 5 of 100 000 experts; not part of `make bench`: about 10 minutes);
# bench-assign-job runs bench/assign_job.py (a job end to end on the wire server, 60 000 × 5).
bench-e2e: setup
	$(PY) bench/e2e_latency.py

bench-assign-national: setup
	$(PY) bench/assign_national.py

bench-%: setup
	$(PY) bench/$*.py

k8s-validate: setup
	bash deploy/k8s/validate.sh
