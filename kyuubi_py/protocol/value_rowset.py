"""TRowSets built from Python values: small results (metadata operations, operation logs) and
the row-based layout of sessions below V6. No numpy or pyarrow here, so the gateway, which never
builds result rows, does not load them."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from kyuubi_py.protocol.tcli import ttypes


class ColumnKind(enum.IntEnum):
    """The TColumn union variant; the value is the Thrift field id."""

    BOOL = 1
    BYTE = 2
    I16 = 3
    I32 = 4
    I64 = 5
    DOUBLE = 6
    STRING = 7
    BINARY = 8


def hive_nulls_bitmap(null_rows: Sequence[bool]) -> bytes:
    """Hive ``ColumnBuffer.toBinary``: ``1 + bitset.length() / 8`` bytes, so never empty."""
    highest = max((i for i, is_null in enumerate(null_rows) if is_null), default=-1)
    out = bytearray(1 + (highest + 1) // 8)
    for i, is_null in enumerate(null_rows):
        if is_null:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def bitset_from_flags(null_rows: Sequence[bool]) -> bytes:
    """STS's query-result bitmap (``BitSet.toByteArray``): trimmed, empty without nulls."""
    out = bytearray((len(null_rows) + 7) // 8)
    for i, is_null in enumerate(null_rows):
        if is_null:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out).rstrip(b"\x00")


_PLACEHOLDER: dict[ColumnKind, object] = {
    ColumnKind.BOOL: True,
    ColumnKind.BYTE: 0,
    ColumnKind.I16: 0,
    ColumnKind.I32: 0,
    ColumnKind.I64: 0,
    ColumnKind.DOUBLE: 0.0,
    ColumnKind.STRING: "",
    ColumnKind.BINARY: b"",
}


def _tcolumn(kind: ColumnKind, values: list[object], nulls: bytes) -> ttypes.TColumn:
    if kind is ColumnKind.BOOL:
        return ttypes.TColumn(boolVal=ttypes.TBoolColumn(values=values, nulls=nulls))
    if kind is ColumnKind.BYTE:
        return ttypes.TColumn(byteVal=ttypes.TByteColumn(values=values, nulls=nulls))
    if kind is ColumnKind.I16:
        return ttypes.TColumn(i16Val=ttypes.TI16Column(values=values, nulls=nulls))
    if kind is ColumnKind.I32:
        return ttypes.TColumn(i32Val=ttypes.TI32Column(values=values, nulls=nulls))
    if kind is ColumnKind.I64:
        return ttypes.TColumn(i64Val=ttypes.TI64Column(values=values, nulls=nulls))
    if kind is ColumnKind.DOUBLE:
        return ttypes.TColumn(doubleVal=ttypes.TDoubleColumn(values=values, nulls=nulls))
    if kind is ColumnKind.STRING:
        return ttypes.TColumn(stringVal=ttypes.TStringColumn(values=values, nulls=nulls))
    return ttypes.TColumn(binaryVal=ttypes.TBinaryColumn(values=values, nulls=nulls))


def columnar_rowset_from_pylists(
    columns: Sequence[tuple[ColumnKind, Sequence[object]]],
    start_row_offset: int = 0,
    *,
    hive_nulls: bool = False,
) -> ttypes.TRowSet:
    """A columnar TRowSet from Python values (``None`` = NULL), for small results.

    ``hive_nulls=True`` writes Hive ``ColumnBuffer`` bitmaps (at least one byte), which is what
    STS sends for metadata operations (GetTables, GetColumns, ...); otherwise the STS query
    result bitmap (trimmed, empty without nulls).
    """
    tcolumns = []
    for kind, values in columns:
        flags = [v is None for v in values]
        filled = [_PLACEHOLDER[kind] if v is None else v for v in values]
        nulls = hive_nulls_bitmap(flags) if hive_nulls else bitset_from_flags(flags)
        tcolumns.append(_tcolumn(kind, filled, nulls))
    return ttypes.TRowSet(startRowOffset=start_row_offset, rows=[], columns=tcolumns)


def log_rowset(lines: Sequence[str], start_row_offset: int = 0) -> ttypes.TRowSet:
    """The FetchResults(fetchType=1) rowset: one string column, Hive-style ``nulls`` = ``00``."""
    return columnar_rowset_from_pylists(
        [(ColumnKind.STRING, list(lines))], start_row_offset, hive_nulls=True
    )


def _tcolumn_value(kind: ColumnKind, value: object) -> ttypes.TColumnValue:
    if kind is ColumnKind.BOOL:
        return ttypes.TColumnValue(boolVal=ttypes.TBoolValue(value=value))
    if kind is ColumnKind.BYTE:
        return ttypes.TColumnValue(byteVal=ttypes.TByteValue(value=value))
    if kind is ColumnKind.I16:
        return ttypes.TColumnValue(i16Val=ttypes.TI16Value(value=value))
    if kind is ColumnKind.I32:
        return ttypes.TColumnValue(i32Val=ttypes.TI32Value(value=value))
    if kind is ColumnKind.I64:
        return ttypes.TColumnValue(i64Val=ttypes.TI64Value(value=value))
    if kind is ColumnKind.DOUBLE:
        return ttypes.TColumnValue(doubleVal=ttypes.TDoubleValue(value=value))
    if kind is ColumnKind.BINARY and isinstance(value, bytes | bytearray | memoryview):
        # Row-based TColumnValue has no binary variant: STS formats binary with its UTF-8
        # binary formatter (new String(bytes, UTF_8), malformed input replaced).
        value = bytes(value).decode("utf-8", errors="replace")
    return ttypes.TColumnValue(stringVal=ttypes.TStringValue(value=value))


def rowbased_rowset_from_pylists(
    columns: Sequence[tuple[ColumnKind, Sequence[object]]], start_row_offset: int = 0
) -> ttypes.TRowSet:
    """A row-based TRowSet (sessions below V6) from Python values; NULL = unset ``value``."""
    counts = {len(values) for _, values in columns}
    if len(counts) > 1:
        raise ValueError(f"columns differ in length: {sorted(counts)}")
    kinds = [kind for kind, _ in columns]
    rows = [
        ttypes.TRow(colVals=[_tcolumn_value(k, v) for k, v in zip(kinds, row, strict=True)])
        for row in zip(*(values for _, values in columns), strict=True)
    ]
    return ttypes.TRowSet(startRowOffset=start_row_offset, rows=rows)
