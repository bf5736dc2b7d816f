# Two commands matter on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PYTEST_ARGS ?=
BIN := .venv/bin

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: venv
venv: .venv/.synced ## Create .venv with the locked dependencies

# Rebuilt only when the lock or the project changes.
.venv/.synced: requirements.lock pyproject.toml
	@# uv comes from PyPI into the user's site (Debian's own Python needs PEP 668's override for that).
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	@test -x .venv/bin/python || $(UV) venv --quiet --python "$$(command -v python3)" .venv
	@$(UV) pip sync --quiet --python .venv/bin/python requirements.lock
	@$(UV) pip install --quiet --python .venv/bin/python --no-deps -e .
	@touch $@

.PHONY: lock
lock: ## Resolve pyproject.toml's dependencies again into requirements.lock
	@$(UV) lock --quiet
	@$(UV) export --quiet --frozen --format requirements-txt --all-groups --no-emit-project -o requirements.lock.new
	@{ echo "# The locked dependencies, with hashes; \`make lock\` writes this file from pyproject.toml."; \
		grep -v '^#' requirements.lock.new; } > requirements.lock && rm requirements.lock.new uv.lock

.PHONY: infra
infra: venv ## Start the local Kafka, MongoDB-wire server and Mailpit (no Docker)
	@bash deploy/local/infra.sh up

.PHONY: infra-down
infra-down: ## Stop the local servers
	@bash deploy/local/infra.sh down

.PHONY: run
run: venv ## Start the whole stack and the four services; Ctrl-C stops everything
	@bash deploy/local/run.sh

.PHONY: test
test: venv ## Everything: unit, integration and end-to-end tests against the real servers
	@bash deploy/local/test.sh --suite tests $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: venv ## Unit tests only (no servers, seconds)
	@$(BIN)/pytest tests/unit -q $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: venv ## Integration tests against the real servers
	@bash deploy/local/test.sh tests/integration $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: venv ## End-to-end tests through public HTTP and Kafka only
	@bash deploy/local/test.sh tests/e2e $(PYTEST_ARGS)

.PHONY: fuzz
fuzz: venv ## schemathesis against both services' OpenAPI: a fresh seed, more examples
	@SCHEMATHESIS_SEED=$${SCHEMATHESIS_SEED:-$$RANDOM$$RANDOM} SCHEMATHESIS_EXAMPLES=$${SCHEMATHESIS_EXAMPLES:-50} \
		bash deploy/local/test.sh tests/integration/openapi -q $(PYTEST_ARGS)

.PHONY: bench
bench: venv ## Measure the spine against a raw loop (table, JSON and plot under bench-results/)
	@bash deploy/local/infra.sh up
	@eval "$$(bash deploy/local/infra.sh env)" && $(BIN)/python -m tests.bench $(BENCH_ARGS)

.PHONY: lint
lint: venv ## ruff check, ruff format --check, mypy --strict
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

.PHONY: docs
docs: venv ## Write docs/reference/ (routes, events, settings, routing table, shared toolkit) from the code
	@$(BIN)/python docs/reference.py

.PHONY: messages
messages: venv ## Extract the e-mail and page texts into messages.pot, update every catalog, fail on a gap
	@cd services/notifications && $(CURDIR)/$(BIN)/pybabel -q extract -F locale/babel.cfg \
		-c Translators: --add-location=file --no-wrap \
		--project=inclusion-partnership --version=notifications \
		--header-comment=$$'# The notifications service\'s e-mail texts in English, from which every catalog translates.\n# `make messages` writes this file from the templates: do not edit it by hand.' \
		-o locale/messages.pot.new templates
	@# Extraction stamps the time: keep the committed template when nothing else changed.
	@cd services/notifications/locale && \
		if diff -q -I '^"POT-Creation-Date: ' messages.pot messages.pot.new >/dev/null 2>&1; \
		then rm messages.pot.new; else mv messages.pot.new messages.pot; fi
	@cd services/notifications && $(CURDIR)/$(BIN)/pybabel -q update -i locale/messages.pot \
		-d locale --ignore-obsolete --ignore-pot-creation-date --no-wrap
	@$(BIN)/python -m shared.i18n services/notifications/locale
	@cd services/meetings && $(CURDIR)/$(BIN)/pybabel -q extract -F locale/babel.cfg \
		-c Translators: --add-location=file --no-wrap \
		--project=inclusion-partnership --version=meetings \
		--header-comment=$$'# The meetings service\'s page texts in English, from which every catalog translates.\n# `make messages` writes this file from the templates: do not edit it by hand.' \
		-o locale/messages.pot.new templates
	@cd services/meetings/locale && \
		if diff -q -I '^"POT-Creation-Date: ' messages.pot messages.pot.new >/dev/null 2>&1; \
		then rm messages.pot.new; else mv messages.pot.new messages.pot; fi
	@cd services/meetings && $(CURDIR)/$(BIN)/pybabel -q update -i locale/messages.pot \
		-d locale --ignore-obsolete --ignore-pot-creation-date --no-wrap
	@$(BIN)/python -m shared.i18n services/meetings/locale

.PHONY: fmt
fmt: venv ## Format and auto-fix
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

.PHONY: token
token: venv ## Print a development bearer token: make token ROLE=secretariat (or ROLE="secretariat operator")
	@ALLOW_DEVELOPMENT_SECRETS=true $(BIN)/python -m shared.auth $(or $(ROLE),secretariat)
