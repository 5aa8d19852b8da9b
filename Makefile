.PHONY: run test lint lock migrate bench-engine bench-api

# README command 1: the whole product on its embedded default (SQLite, no broker server).
# Ctrl-C is how it stops (exit 130), not a failure.
run:
	bin/setup
	bin/run-embedded || test $$? -eq 130

# README command 2: the whole test suite against local PostgreSQL and Redis.
test:
	OFFLOAD_SETUP_BROWSER=1 bin/setup
	.venv/bin/pytest $(ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# Re-resolve the pinned versions after changing pyproject.toml.
lock:
	rm -rf .venv-lock && python3 -m venv .venv-lock
	.venv-lock/bin/pip install -q --upgrade pip
	.venv-lock/bin/pip install -q '.[dev]'
	(echo "# Pinned versions of every dependency: make lock regenerates this file."; \
	 .venv-lock/bin/pip freeze --exclude offload) > constraints.txt
	rm -rf .venv-lock

migrate:
	.venv/bin/python manage.py migrate

bench-engine:
	.venv/bin/python bench/engine/run.py

bench-api:
	.venv/bin/python bench/api/run.py
