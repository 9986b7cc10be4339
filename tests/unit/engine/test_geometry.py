"""Geometry WKB → WKT text, checked against Spark Thrift Server 4.3.0.

Expected strings marked "STS" were observed on the wire from STS 4.3.0 (the pyspark 4.3.0
wheel, local mode, Java 17) for the quoted SQL. No Spark is started here.
"""

from __future__ import annotations

import math
import struct

from kyuubi_py.engine.spark._geometry import wkb_to_wkt


def _hdr(code: int, count: int | None = None) -> bytes:
    return struct.pack("<BI", 1, code) + (b"" if count is None else struct.pack("<I", count))


def _co(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def test_wkb_to_wkt_like_sts() -> None:
    ring = struct.pack("<I", 4) + _co(0, 0) + _co(1, 0) + _co(1, 1) + _co(0, 0)
    point12, nan_point = _hdr(1) + _co(1, 2), _hdr(1) + _co(math.nan, math.nan)
    line01 = _hdr(2, 2) + _co(0, 0) + _co(1, 1)
    numbers = _co(0.1, 100.0) + _co(123456.5, 1e-3) + _co(-2.5e-4, 9.999999e6)
    numbers += _co(9007199254740993.0, -1e7)
    cases = [  # all observed from STS 4.3.0
        (_hdr(1) + _co(1.5, -0.1), "POINT(1.5 -0.1)"),
        (_hdr(1) + _co(1e20, 123456789.125), "POINT(1.0E20 1.23456789125E8)"),
        (_hdr(1) + _co(1e-7, 0.001), "POINT(1.0E-7 0.001)"),
        (_hdr(1) + _co(-0.0, 3.0), "POINT(0 3)"),
        (nan_point, "POINT EMPTY"),
        (_hdr(1001) + _co(1, 2, 3), "POINT Z (1 2 3)"),
        (_hdr(2001) + _co(1, 2, 4), "POINT M (1 2 4)"),
        (_hdr(3001) + _co(1, 2, 3, 4), "POINT ZM (1 2 3 4)"),
        (_hdr(2, 2) + _co(0, 0) + _co(1, 1.5), "LINESTRING(0 0,1 1.5)"),
        (_hdr(2, 0), "LINESTRING EMPTY"),
        (_hdr(1002, 2) + _co(0, 0, 1) + _co(1, 1, 2), "LINESTRING Z (0 0 1,1 1 2)"),
        (_hdr(3, 1) + ring, "POLYGON((0 0,1 0,1 1,0 0))"),
        (_hdr(3, 0), "POLYGON EMPTY"),
        (_hdr(4, 2) + point12 + _hdr(1) + _co(3, 4), "MULTIPOINT((1 2),(3 4))"),
        (_hdr(4, 2) + point12 + nan_point, "MULTIPOINT((1 2),EMPTY)"),
        (
            _hdr(1004, 2) + _hdr(1001) + _co(1, 2, 3) + _hdr(1001) + _co(4, 5, 6),
            "MULTIPOINT Z ((1 2 3),(4 5 6))",
        ),
        (_hdr(5, 2) + line01 + _hdr(2, 0), "MULTILINESTRING((0 0,1 1),EMPTY)"),
        (_hdr(6, 2) + _hdr(3, 1) + ring + _hdr(3, 0), "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),EMPTY)"),
        (_hdr(7, 2) + point12 + line01, "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))"),
        (_hdr(7, 0), "GEOMETRYCOLLECTION EMPTY"),
        (_hdr(1007, 1) + _hdr(1001) + _co(1, 2, 3), "GEOMETRYCOLLECTION Z (POINT Z (1 2 3))"),
        (
            _hdr(2, 4) + numbers,
            "LINESTRING(0.1 100,123456.5 0.001,-2.5E-4 9999999,9007199254740992 -10000000)",
        ),
        (struct.pack(">BI2d", 0, 1, 1.0, 2.0), "POINT(1 2)"),  # big-endian WKB
    ]
    for wkb, expected in cases:
        assert wkb_to_wkt(wkb) == expected
    assert wkb_to_wkt(_hdr(1) + _co(1, 2), 3857) == "SRID=3857;POINT(1 2)"
