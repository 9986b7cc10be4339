# kyuubi_py developer entry points. `make run` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install bytecode run test lint gen docs-conf bench bench-quick clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e '.[test,dev]'
	$(PY) -c "from thrift.protocol import fastbinary" || (echo "thrift C extension missing" && exit 1)
	touch $(STAMP)

# Every engine and the gateway import the generated Thrift code (12k lines). Compiled at import,
# it costs each process about 60 ms and 13 MB of memory that stays; Python does not write the
# bytecode where PYTHONDONTWRITEBYTECODE is set or the tree is read-only, so compile it up front
# (only changed files are compiled again).
bytecode: $(STAMP)
	$(PY) -m compileall -q kyuubi_py

run: bytecode
	$(VENV)/bin/kyuubi-py server $(ARGS)

test: bytecode
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

bench: bytecode
	$(PY) -m bench.run

bench-quick: bytecode
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache bench/results/*.json
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
