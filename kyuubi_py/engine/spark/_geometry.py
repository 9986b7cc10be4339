"""Geometry / geography values as Spark prints them: (E)WKT from the WKB pyspark collects.

Per value in Python (geometries are rare, and WKB has no Arrow kernel); coordinates use
Java's ``Double.toString`` (``java_fp_string``) unless integral.
"""

from __future__ import annotations

import math
import struct

import pyarrow as pa

from kyuubi_py.engine.spark._java_float import DEFAULT_JAVA_VERSION, java_fp_string

# ---------------------------------------------------------------------------------------------
# geometry / geography: (E)WKT from the WKB pyspark collects (per value in Python)

_WKB_TYPES = {
    1: "POINT",
    2: "LINESTRING",
    3: "POLYGON",
    4: "MULTIPOINT",
    5: "MULTILINESTRING",
    6: "MULTIPOLYGON",
    7: "GEOMETRYCOLLECTION",
}
_EWKB_Z, _EWKB_M, _EWKB_SRID = 0x80000000, 0x40000000, 0x20000000
_TWO_63 = 2.0**63


def _wkt_number(value: float, java_version: int) -> str:
    """Spark's WKT coordinate text: integral values as a Java long, others Double.toString."""
    if value == _TWO_63:  # (long) saturates at Long.MAX_VALUE, which compares equal to 2^63
        return "9223372036854775807"
    if math.isfinite(value) and value == math.floor(value) and -_TWO_63 <= value < _TWO_63:
        return str(int(value))
    return java_fp_string(value, single=False, java_version=java_version)


class _WkbReader:
    def __init__(self, data: bytes, java_version: int) -> None:
        self.java_version = java_version
        self._data = data
        self._pos = 0
        self._order = "<"

    def _unpack(self, fmt: str) -> tuple[float | int, ...]:
        values = struct.unpack_from(self._order + fmt, self._data, self._pos)
        self._pos += struct.calcsize(self._order + fmt)
        return values

    def header(self) -> tuple[int, str, int]:
        """(base type, dimension tag '', 'Z', 'M' or 'ZM', coordinates per point)."""
        (order,) = struct.unpack_from("B", self._data, self._pos)
        self._pos += 1
        self._order = "<" if order == 1 else ">"
        code = int(self._unpack("I")[0])
        has_z, has_m = bool(code & _EWKB_Z), bool(code & _EWKB_M)
        if code & _EWKB_SRID:
            self._unpack("I")
        code &= 0x0FFFFFFF
        has_z = has_z or (code // 1000) in (1, 3)
        has_m = has_m or (code // 1000) in (2, 3)
        tag = ("Z" if has_z else "") + ("M" if has_m else "")
        return code % 1000, tag, 2 + has_z + has_m

    def count(self) -> int:
        return int(self._unpack("I")[0])

    def point(self, dims: int) -> list[float]:
        return [float(v) for v in self._unpack(f"{dims}d")]


def _coords(reader: _WkbReader, point: list[float]) -> str:
    return " ".join(_wkt_number(v, reader.java_version) for v in point)


def _wkt_body(reader: _WkbReader, base: int, dims: int) -> str | None:
    """The parenthesized body of one geometry, or None when it is empty."""
    if base == 1:
        point = reader.point(dims)
        return None if all(math.isnan(v) for v in point) else f"({_coords(reader, point)})"
    count = reader.count()
    if count == 0:
        return None
    if base == 2:
        return "(" + ",".join(_coords(reader, reader.point(dims)) for _ in range(count)) + ")"
    if base == 3:
        rings = [
            ",".join(_coords(reader, reader.point(dims)) for _ in range(reader.count()))
            for _ in range(count)
        ]
        return "(" + ",".join(f"({ring})" for ring in rings) + ")"
    members = []
    for _ in range(count):
        member_base, member_tag, member_dims = reader.header()
        if base == 7:
            members.append(_wkt_geometry(reader, member_base, member_tag, member_dims))
        else:
            members.append(_wkt_body(reader, member_base, member_dims) or "EMPTY")
    return "(" + ",".join(members) + ")"


def _wkt_geometry(reader: _WkbReader, base: int, tag: str, dims: int) -> str:
    if base not in _WKB_TYPES:
        raise ValueError(f"unsupported WKB geometry type {base}")
    body = _wkt_body(reader, base, dims)
    name = _WKB_TYPES[base] + (f" {tag}" if tag else "")
    if body is None:
        return f"{name} EMPTY"
    return f"{name} {body}" if tag else f"{name}{body}"


def wkb_to_wkt(wkb: bytes, srid: int = 0, java_version: int = DEFAULT_JAVA_VERSION) -> str:
    """Spark's text for a geometry/geography value: WKT, 'SRID=n;' first when srid != 0."""
    reader = _WkbReader(wkb, java_version)
    text = _wkt_geometry(reader, *reader.header())
    return f"SRID={srid};{text}" if srid else text


def spatial_text(arr: pa.Array, *, quoted: bool, java_version: int) -> pa.Array:
    """Text of geometry/geography values collected as struct<srid: int32, wkb: binary>."""
    out: list[str | None] = []
    for value in arr.to_pylist():
        if value is None:
            out.append(None)
            continue
        text = wkb_to_wkt(value["wkb"], int(value["srid"] or 0), java_version)
        out.append(f'"{text}"' if quoted else text)
    return pa.array(out, pa.string())


__all__ = ["spatial_text", "wkb_to_wkt"]
