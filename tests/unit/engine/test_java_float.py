"""Java's Float/Double.toString, checked against Spark Thrift Server 4.3.0 text.

Expected strings marked "STS" were observed on the wire from STS 4.3.0 (the pyspark 4.3.0
wheel, local mode, Java 17) for the quoted SQL. No Spark is started here.
"""

from __future__ import annotations

import math
import struct

from kyuubi_py.engine.spark._java_float import java_fp_string


def float32(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


def test_java_fp_string() -> None:
    # STS nested text: array(1.1d, 1e10d, 1e-5d, 100d, NaN, 0.001d, 1234567d, 12345678d, 1e7d,
    # 9999999d, -0.0d, 1e21d, 1e-300d, 2.0e-3d)
    doubles = [1.1, 1e10, 1e-5, 100.0, math.nan, 0.001, 1234567.0, 12345678.0, 1e7, 9999999.0,
               -0.0, 1e21, 1e-300, 2.0e-3]  # fmt: skip
    assert ",".join(java_fp_string(v, single=False) for v in doubles) == (
        "1.1,1.0E10,1.0E-5,100.0,NaN,0.001,1234567.0,1.2345678E7,1.0E7,9999999.0,-0.0,1.0E21,"
        "1.0E-300,0.002"
    )
    # STS (Java 17) prints more digits than the shortest repr for these doubles
    assert java_fp_string(7.465065937846027e18, single=False) == "7.4650659378460273E18"
    assert java_fp_string(7.024459223730193e16, single=False) == "7.0244592237301928E16"
    assert java_fp_string(7.465065937846027e18, single=False, java_version=21) == (
        "7.465065937846027E18"
    )
    assert java_fp_string(5e-324, single=False) == "4.9E-324"
    assert java_fp_string(float32(0x4C88D447), single=True) == "7.1737912E7"
    assert java_fp_string(-math.inf, single=True) == "-Infinity"
