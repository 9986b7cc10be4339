"""Spark SQL types → HiveServer2 schema, exactly as Spark Thrift Server 4.3.

``type_id`` / ``column_desc`` / ``table_schema`` follow STS's
``SparkExecuteStatementOperation.toTTypeId`` (one ``primitiveEntry`` per column, also for
ARRAY/MAP/STRUCT; DECIMAL precision/scale and CHAR/VARCHAR length qualifiers; an empty qualifier
map elsewhere), except that INTERVAL ids (20/21) go only to sessions ≥ V8 because older clients
(impyla at V6) crash on ids above 19. ``column_kind`` is the TColumn variant a type travels as.

Arrow cannot carry some types out of Spark (year-month intervals, variants, user-defined
types): ``needs_string_cast`` tells the engine to select ``collect_sql(column, type)``
instead of the column, which rewrites those parts into forms ``values.to_wire_array`` formats.

Imports only ``pyspark.sql.types`` from Spark; it never starts a JVM.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    CalendarIntervalType,
    CharType,
    DataType,
    DateType,
    DayTimeIntervalType,
    DecimalType,
    DoubleType,
    FloatType,
    GeographyType,
    GeometryType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
    TimeType,
    UserDefinedType,
    VarcharType,
    VariantType,
    YearMonthIntervalType,
)

from kyuubi_py.protocol.rowset import ColumnKind
from kyuubi_py.protocol.tcli import V8, ttypes

_TTypeId = ttypes.TTypeId
_V3: int = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V3
_V4: int = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V4
_STRING_TYPE: int = _TTypeId.STRING_TYPE

# Spark keeps CHAR(n)/VARCHAR(n) columns as StringType in query results and records the
# declared type in the field metadata; STS reads it back (CharVarcharUtils.getRawSchema).
CHAR_VARCHAR_METADATA_KEY = "__CHAR_VARCHAR_TYPE_STRING"
_CHAR_VARCHAR_RE = re.compile(r"\s*(char|varchar)\s*\(\s*(\d+)\s*\)\s*", re.IGNORECASE)

# ---------------------------------------------------------------------------------------------
# schema


def _char_varchar(dt: DataType, metadata: Mapping[str, object] | None) -> tuple[int, int] | None:
    """(TTypeId, declared length) of a CHAR/VARCHAR column, else None."""
    if isinstance(dt, CharType):
        return _TTypeId.CHAR_TYPE, dt.length
    if isinstance(dt, VarcharType):
        return _TTypeId.VARCHAR_TYPE, dt.length
    raw = (metadata or {}).get(CHAR_VARCHAR_METADATA_KEY)
    if not isinstance(dt, StringType) or not isinstance(raw, str):
        return None
    match = _CHAR_VARCHAR_RE.fullmatch(raw)
    if match is None:
        return None
    kind = _TTypeId.CHAR_TYPE if match.group(1).lower() == "char" else _TTypeId.VARCHAR_TYPE
    return kind, int(match.group(2))


_SIMPLE_TYPE_IDS: list[tuple[type[DataType] | tuple[type[DataType], ...], int]] = [
    (NullType, _TTypeId.NULL_TYPE),
    (BooleanType, _TTypeId.BOOLEAN_TYPE),
    (ByteType, _TTypeId.TINYINT_TYPE),
    (ShortType, _TTypeId.SMALLINT_TYPE),
    (IntegerType, _TTypeId.INT_TYPE),
    (LongType, _TTypeId.BIGINT_TYPE),
    (FloatType, _TTypeId.FLOAT_TYPE),
    (DoubleType, _TTypeId.DOUBLE_TYPE),
    (DecimalType, _TTypeId.DECIMAL_TYPE),
    (DateType, _TTypeId.DATE_TYPE),
    ((TimestampType, TimestampNTZType), _TTypeId.TIMESTAMP_TYPE),
    (BinaryType, _TTypeId.BINARY_TYPE),
    (ArrayType, _TTypeId.ARRAY_TYPE),
    (MapType, _TTypeId.MAP_TYPE),
    (StructType, _TTypeId.STRUCT_TYPE),
]


def type_id(dt: DataType, protocol: int, metadata: Mapping[str, object] | None = None) -> int:
    """The TTypeId STS reports for ``dt`` to a session of protocol version ``protocol``.

    ``metadata`` is the StructField metadata, where Spark records CHAR/VARCHAR declarations.
    Geometry/geography, calendar intervals and the types STS cannot describe (variant, time,
    user-defined) are STRING; their values are sent as text.
    """
    char_varchar = _char_varchar(dt, metadata)
    if char_varchar is not None:
        kind, _ = char_varchar
        # VARCHAR ids exist from V3 and CHAR from V4 (TCLIService.thrift history).
        needed = _V4 if kind == _TTypeId.CHAR_TYPE else _V3
        return kind if protocol >= needed else _STRING_TYPE
    if isinstance(dt, UserDefinedType):
        return _STRING_TYPE
    if isinstance(dt, DayTimeIntervalType | YearMonthIntervalType):
        if protocol < V8:
            return _STRING_TYPE
        if isinstance(dt, DayTimeIntervalType):
            return int(_TTypeId.INTERVAL_DAY_TIME_TYPE)
        return int(_TTypeId.INTERVAL_YEAR_MONTH_TYPE)
    for spark_type, tid in _SIMPLE_TYPE_IDS:
        if isinstance(dt, spark_type):
            return tid
    return _STRING_TYPE


def _qualifiers(dt: DataType, tid: int, metadata: Mapping[str, object] | None) -> dict[str, object]:
    if isinstance(dt, DecimalType):
        return {
            "precision": ttypes.TTypeQualifierValue(i32Value=dt.precision),
            "scale": ttypes.TTypeQualifierValue(i32Value=dt.scale),
        }
    char_varchar = _char_varchar(dt, metadata)
    if char_varchar is not None and tid in (_TTypeId.CHAR_TYPE, _TTypeId.VARCHAR_TYPE):
        return {"characterMaximumLength": ttypes.TTypeQualifierValue(i32Value=char_varchar[1])}
    return {}


def column_desc(
    name: str,
    dt: DataType,
    position: int,
    comment: str | None,
    protocol: int,
    metadata: Mapping[str, object] | None = None,
) -> ttypes.TColumnDesc:
    """One TColumnDesc as STS builds it (0-based position, comment "" when none)."""
    tid = type_id(dt, protocol, metadata)
    # STS always sets typeQualifiers (an empty map when there is nothing to say); Java clients
    # need the required ``qualifiers`` map present whenever the struct is.
    entry = ttypes.TPrimitiveTypeEntry(
        type=tid,
        typeQualifiers=ttypes.TTypeQualifiers(qualifiers=_qualifiers(dt, tid, metadata)),
    )
    return ttypes.TColumnDesc(
        columnName=name,
        typeDesc=ttypes.TTypeDesc(types=[ttypes.TTypeEntry(primitiveEntry=entry)]),
        position=position,
        comment=comment or "",
    )


def field_desc(field: StructField, position: int, protocol: int) -> ttypes.TColumnDesc:
    metadata = field.metadata or {}
    comment = metadata.get("comment")
    return column_desc(
        field.name,
        field.dataType,
        position,
        comment if isinstance(comment, str) else "",
        protocol,
        metadata,
    )


def table_schema(schema: StructType, protocol: int) -> ttypes.TTableSchema:
    return ttypes.TTableSchema(
        columns=[field_desc(field, i, protocol) for i, field in enumerate(schema.fields)]
    )


def column_kind(dt: DataType) -> ColumnKind:
    """The TColumn variant STS uses for ``dt``; everything not listed travels as text."""
    if isinstance(dt, BooleanType):
        return ColumnKind.BOOL
    if isinstance(dt, ByteType):
        return ColumnKind.BYTE
    if isinstance(dt, ShortType):
        return ColumnKind.I16
    if isinstance(dt, IntegerType):
        return ColumnKind.I32
    if isinstance(dt, LongType):
        return ColumnKind.I64
    if isinstance(dt, FloatType | DoubleType):
        return ColumnKind.DOUBLE
    if isinstance(dt, BinaryType):
        return ColumnKind.BINARY
    return ColumnKind.STRING


# ---------------------------------------------------------------------------------------------
# collection rewrites for what Arrow cannot carry

_ARROW_NATIVE_LEAVES = (
    NullType,
    BooleanType,
    ByteType,
    ShortType,
    IntegerType,
    LongType,
    FloatType,
    DoubleType,
    DecimalType,
    StringType,
    CharType,
    VarcharType,
    BinaryType,
    DateType,
    TimestampType,
    TimestampNTZType,
    TimeType,
    DayTimeIntervalType,
    CalendarIntervalType,
    GeometryType,
    GeographyType,
)


def needs_string_cast(dt: DataType) -> bool:
    """True when ``dt`` (or a type nested in it) cannot come out of Arrow collect as is.

    pyspark 4.3 fails on year-month intervals and returns variants and user-defined types in
    raw storage form; select ``collect_sql(column, dt)`` for such columns instead.
    """
    if isinstance(dt, UserDefinedType):
        return True
    if isinstance(dt, ArrayType):
        return needs_string_cast(dt.elementType)
    if isinstance(dt, MapType):
        return needs_string_cast(dt.keyType) or needs_string_cast(dt.valueType)
    if isinstance(dt, StructType):
        return any(needs_string_cast(f.dataType) for f in dt.fields)
    return not isinstance(dt, _ARROW_NATIVE_LEAVES)


def quote_identifier(name: str) -> str:
    """A Spark SQL backtick-quoted identifier."""
    return "`" + name.replace("`", "``") + "`"


def _sql_string_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def collect_sql(expr: str, dt: DataType, _depth: int = 0) -> str:
    """A Spark SQL expression over ``expr`` (of type ``dt``) that Arrow collect can carry.

    Year-month intervals become their month count (int), variants their JSON text, other
    uncollectable types their string cast (a user-defined type's cast is
    ``udt.deserialize(v).toString``, STS's text). Inside arrays, maps and structs only the
    affected parts are rewritten; maps become arrays of (key, value) structs, which keeps
    duplicate-looking keys and entry order intact. ``to_wire_array`` takes the result with
    the original ``dt``.
    """
    if not needs_string_cast(dt):
        return expr
    var = f"_kyuubi_py_{_depth}"
    if isinstance(dt, UserDefinedType):
        return f"CAST({expr} AS STRING)"
    if isinstance(dt, ArrayType):
        inner = collect_sql(var, dt.elementType, _depth + 1)
        return f"transform({expr}, {var} -> {inner})"
    if isinstance(dt, MapType):
        key = collect_sql(f"{var}.key", dt.keyType, _depth + 1)
        value = collect_sql(f"{var}.value", dt.valueType, _depth + 1)
        return f"transform(map_entries({expr}), {var} -> struct({key} AS key, {value} AS value))"
    if isinstance(dt, StructType):
        names = [f.name for f in dt.fields]
        if len(set(names)) != len(names):
            # Duplicate field names cannot be addressed in SQL: fall back to Spark's text.
            return f"CAST({expr} AS STRING)"
        members = ", ".join(
            f"{_sql_string_literal(f.name)}, "
            f"{collect_sql(f'{expr}.{quote_identifier(f.name)}', f.dataType, _depth + 1)}"
            for f in dt.fields
        )
        return f"if({expr} IS NULL, NULL, named_struct({members}))"
    if isinstance(dt, YearMonthIntervalType):
        return _months_sql(expr, dt)
    if isinstance(dt, VariantType):
        return f"to_json({expr})"
    return f"CAST({expr} AS STRING)"


def _months_sql(expr: str, dt: YearMonthIntervalType) -> str:
    """The month count of a year-month interval (Arrow collect cannot carry the type)."""
    year, month = YearMonthIntervalType.YEAR, YearMonthIntervalType.MONTH
    # Single-field intervals cast to integers in their own unit; EXTRACT rejects fields the
    # type does not have.
    if dt.startField == year and dt.endField == year:
        return f"(CAST({expr} AS INT) * 12)"
    if dt.startField == month:
        return f"CAST({expr} AS INT)"
    return f"(extract(YEAR FROM {expr}) * 12 + extract(MONTH FROM {expr}))"


__all__ = [
    "CHAR_VARCHAR_METADATA_KEY",
    "collect_sql",
    "column_desc",
    "column_kind",
    "field_desc",
    "needs_string_cast",
    "quote_identifier",
    "table_schema",
    "type_id",
]
