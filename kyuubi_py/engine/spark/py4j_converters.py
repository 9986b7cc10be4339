"""Keep pyspark's test helpers off the engine's start-up path.

pyspark registers py4j input converters for numpy values whose ``can_convert`` imports
``pyspark.testing.utils`` to learn whether numpy is installed. That test-helper module imports
pandas, probes for grpc and friends and warns about the pandas version, and it does so on the
first py4j call with an argument no other converter takes: while ``SparkConf`` is built, on the
critical path of every engine start (about 0.15 s here).

:func:`install` swaps those two converters for equivalents that answer from ``sys.modules``
(a value can only be a numpy value once numpy is imported). The conversion itself stays
pyspark's. Without those classes (another pyspark), nothing changes.

The engine does not need pandas, and kyuubi_py does not install it. Where it is installed anyway,
pyarrow imports it on its first ``pa.array`` (20 to 40 MB of RSS per engine), whatever this module
does.
"""

from __future__ import annotations

import sys
from typing import Any

from py4j import protocol  # type: ignore[import-untyped]
from pyspark.sql import types


def _numpy_class(name: str) -> Any:
    """``numpy.<name>`` if numpy is imported (and done importing: another thread may be
    importing it right now), else None."""
    return getattr(sys.modules.get("numpy"), name, None)


def install() -> None:
    """Replace pyspark's numpy converters in py4j's converter list; idempotent."""
    scalar_base: Any = getattr(types, "NumpyScalarConverter", None)
    array_base: Any = getattr(types, "NumpyArrayConverter", None)
    if scalar_base is None or array_base is None:
        return

    class NumpyScalarConverter(scalar_base):  # type: ignore[misc, valid-type]
        def can_convert(self, obj: Any) -> bool:
            generic = _numpy_class("generic")
            return generic is not None and isinstance(obj, generic)

    class NumpyArrayConverter(array_base):  # type: ignore[misc, valid-type]
        def can_convert(self, obj: Any) -> bool:
            ndarray = _numpy_class("ndarray")
            return ndarray is not None and isinstance(obj, ndarray) and obj.ndim == 1

    replacements = {scalar_base: NumpyScalarConverter, array_base: NumpyArrayConverter}
    converters = protocol.INPUT_CONVERTER
    for index, converter in enumerate(converters):
        replacement = replacements.get(type(converter))
        if replacement is not None:
            converters[index] = replacement()
