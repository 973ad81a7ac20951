# SafeRefer task runner. `make run` starts a local node; `make test` runs every test.
# Each target installs what it needs first (scripts/bootstrap.sh is idempotent).
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/.tools/node/node_modules/.bin:$(PATH)

.PHONY: bootstrap run test lint typecheck validate-spec policy-test pytest bench test-slow

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	@scripts/run.sh

test: bootstrap
	@scripts/test.sh

lint: bootstrap
	@scripts/lint.sh

validate-spec: bootstrap
	@scripts/validate_spec.sh

policy-test: bootstrap
	@scripts/policy_test.sh

bench: bootstrap
	@scripts/bench.sh

test-slow: bootstrap
	@$(VENV)/pytest -m slow
