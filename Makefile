# kyuubi_py developer entry points. `make run` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test lint gen docs-conf bench bench-quick clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e '.[test,dev]'
	$(PY) -c "from thrift.protocol import fastbinary" || (echo "thrift C extension missing" && exit 1)
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/kyuubi-py server $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check kyuubi_py tests scripts
	$(VENV)/bin/ruff format --check kyuubi_py tests
	$(VENV)/bin/mypy kyuubi_py

gen: $(STAMP)
	scripts/gen-thrift
	$(PY) -m kyuubi_py.config.docs --write

docs-conf: $(STAMP)
	$(PY) -m kyuubi_py.config.docs --write

bench: $(STAMP)
	$(PY) -m bench.run

bench-quick: $(STAMP)
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache bench/results/*.json
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
