"""Which copy of pyspark and py4j an engine launched by spark-submit imports.

spark-submit puts ``$SPARK_HOME/python/lib/pyspark.zip`` and the py4j source zip at the head of
the driver's ``PYTHONPATH``, so that Python and JVM sides come from one Spark build. With a pip
installed pyspark, ``SPARK_HOME`` is the installed package itself: the zips hold the very code
the interpreter could import from site-packages. From a zip, though, no module has bytecode:
every engine compiles pyspark as it imports it (``import pyspark.sql`` took 0.37 s from the
zips and 0.08 s from site-packages with pyspark 4.3 here; a new user's first query through the
gateway came 0.1 s sooner, bench B4). :func:`without_bundled_zips` drops the zips exactly in
that case; with a Spark distribution of its own (a cluster's ``SPARK_HOME``), the path stays as
spark-submit made it.

Imports nothing outside the standard library: it runs before pyspark is first imported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

_PY4J_ZIP = re.compile(r"py4j-(?P<version>[^-]+)-src\.zip")


def without_bundled_zips(path: Sequence[str]) -> list[str]:
    """``path`` (``sys.path``) without the zips of a pip installed pyspark whose own package
    directory is importable from ``path`` anyway (py4j's only when that version is installed
    there too)."""
    directories = {Path(entry).resolve() for entry in path if not entry.endswith(".zip")}
    return [entry for entry in path if not _is_redundant_zip(Path(entry), directories)]


def _is_redundant_zip(entry: Path, directories: set[Path]) -> bool:
    lib = entry.resolve().parent
    if entry.suffix != ".zip" or lib.parts[-3:] != ("pyspark", "python", "lib"):
        return False
    site = lib.parents[2]  # <site>/pyspark/python/lib/<zip>
    if site not in directories or not (site / "pyspark" / "__init__.py").is_file():
        return False
    if entry.name == "pyspark.zip":
        return True
    py4j = _PY4J_ZIP.fullmatch(entry.name)
    return py4j is not None and _has_py4j(site, py4j["version"])


def _has_py4j(site: Path, version: str) -> bool:
    return (site / "py4j" / "__init__.py").is_file() and (
        site / f"py4j-{version}.dist-info"
    ).is_dir()
