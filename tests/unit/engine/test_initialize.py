"""Engine warm-up helpers that need no Spark: statement splitting, the py4j converters, the
encoder warm-up."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from kyuubi_py.engine.spark.initialize import split_statements, warm_up_encoding


def test_split_statements() -> None:
    assert split_statements("SELECT 1") == ["SELECT 1"]
    assert split_statements(" SHOW DATABASES ;\nSELECT 1; ;") == ["SHOW DATABASES", "SELECT 1"]
    assert split_statements("") == []
    assert split_statements(None) == []
    assert split_statements(" ; ") == []


def test_warm_up_encoding_encodes_every_sample(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        warm_up_encoding()  # a failure is logged, not raised: the engine starts anyway
    assert not caplog.records, caplog.text


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_py4j_converters_keep_pyspark_test_helpers_unimported() -> None:
    # Every converter is asked about a plain Python value, as py4j does for each argument.
    out = _run(
        "import sys\n"
        "from kyuubi_py.engine.spark import py4j_converters\n"
        "py4j_converters.install(); py4j_converters.install()\n"
        "from py4j.protocol import INPUT_CONVERTER\n"
        "[c.can_convert(object()) for c in INPUT_CONVERTER]\n"
        "print('pyspark.testing' in sys.modules, 'pandas' in sys.modules)\n"
    )
    assert out == "False False"


def test_py4j_converters_still_take_numpy_values() -> None:
    out = _run(
        "import numpy\n"
        "from kyuubi_py.engine.spark import py4j_converters\n"
        "py4j_converters.install()\n"
        "from py4j.protocol import INPUT_CONVERTER\n"
        "def taker(value):  # py4j converts with the first converter that takes the value\n"
        "    return next(type(c).__name__ for c in INPUT_CONVERTER if c.can_convert(value))\n"
        "print(taker(numpy.int64(3)), taker(numpy.array([1.0, 2.0])), taker([1, 2]))\n"
    )
    assert out == "NumpyScalarConverter NumpyArrayConverter ListConverter"
