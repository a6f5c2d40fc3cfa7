# The targets CI runs (.ci/run: make lint, make test) and the local stack. `make up` needs nothing
# but python3 (>= 3.11) and, on a machine without Redis/Java/Maven, root for apt-get.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv up down status test lint clean

venv: $(STAMP)

# Reinstalls only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,lint]'
	touch $@

up: venv
	$(PY) deploy/local/stack.py up

down: venv
	$(PY) deploy/local/stack.py down

status: venv
	$(PY) deploy/local/stack.py status

# The fixtures start Kafka and Redis themselves; this installs what they need first.
test: venv
	$(PY) deploy/local/services.py ensure
	$(PY) -m pytest

# deploy/local is checked on its own: it is not a package, so [tool.mypy] packages cannot name it.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy deploy/local

clean:
	rm -rf .run

# Benchmarks and failure drills (bench/; figures in docs/benchmarks.md and docs/reliability.md).
# BENCH_ARGS=--memory-minutes=30 for the long memory run; DRILLS_ARGS=--long for 60 s outages.
.PHONY: bench drills
$(VENV)/.bench-installed: pyproject.toml $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) deploy/local/services.py ensure
	$(PY) -m bench $(BENCH_ARGS)

drills: venv
	$(PY) deploy/local/services.py ensure
	$(PY) -m bench.drills $(DRILLS_ARGS)

# docs/configuration.md is generated from the settings dataclasses and the sites keys each parser
# declares (consumers/ops/catalog.py); a test fails when the committed file is stale.
.PHONY: config-docs
config-docs: venv
	$(PY) -m consumers.ops.configdoc --write

# The tag (snippet/src -> snippet/dist, with terser from package-lock.json; Node at build time
# only) and its gzip -9 size per variant.
.PHONY: tag tag-size demo-tag
tag:
	npm ci --no-audit --no-fund --silent
	node snippet/build.mjs

tag-size: venv
	$(PY) -m snippet.size

# Re-paste the freshly rendered tag into the demo shop's pages (a test checks it is not stale).
demo-tag: venv
	$(PY) -m snippet --sites deploy/sites.toml --site demo --paste-into deploy/demo --out deploy/demo
