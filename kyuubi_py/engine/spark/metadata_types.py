"""Pure pieces of the metadata operations: JDBC patterns, Spark types described as
``java.sql.Types`` / ``DataType.sql`` / column sizes, and the result-set schemas STS sends
(hs2-protocol.md section 1.6). No JVM access.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
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
    VarcharType,
    YearMonthIntervalType,
)

from kyuubi_py.engine.spark.schema import CHAR_VARCHAR_METADATA_KEY, quote_identifier

Row = tuple[Any, ...]
TABLE, VIEW = "TABLE", "VIEW"


# -- patterns ----------------------------------------------------------------------------------
def pattern_regex(pattern: str) -> str:
    """Hive's conversion: ``%`` → ``.*``, ``_`` → ``.``, ``\\%`` / ``\\_`` literal; every other
    character is kept as regex syntax, so impyla's ``.*`` works too."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else char)
        i += 1
    return "".join(out)


def jdbc_pattern(pattern: str | None, *, empty_is_all: bool = True) -> re.Pattern[str] | None:
    """A case-insensitive full-match regex for a JDBC pattern; ``None`` matches everything.

    An invalid regex (``(`` in a name) is matched literally instead of failing the call.
    """
    if pattern is None or (pattern == "" and empty_is_all):
        return None
    try:
        return re.compile(pattern_regex(pattern), re.IGNORECASE | re.DOTALL)
    except re.error:
        return re.compile(re.escape(pattern), re.IGNORECASE)


def matches(regex: re.Pattern[str] | None, name: str | None) -> bool:
    return regex is None or (name is not None and regex.fullmatch(name) is not None)


# -- type descriptions (GetColumns, GetTypeInfo) -----------------------------------------------
class SqlTypes:
    """``java.sql.Types`` codes."""

    NULL, BOOLEAN, TINYINT, SMALLINT, INTEGER, BIGINT = 0, 16, -6, 5, 4, -5
    FLOAT, DOUBLE, DECIMAL, CHAR, VARCHAR, BINARY = 6, 8, 3, 1, 12, -2
    DATE, TIMESTAMP, ARRAY, STRUCT, JAVA_OBJECT, OTHER = 91, 93, 2003, 2002, 2000, 1111


_JAVA_TYPES: list[tuple[type[DataType] | tuple[type[DataType], ...], int]] = [
    (NullType, SqlTypes.NULL),
    (BooleanType, SqlTypes.BOOLEAN),
    (ByteType, SqlTypes.TINYINT),
    (ShortType, SqlTypes.SMALLINT),
    (IntegerType, SqlTypes.INTEGER),
    (LongType, SqlTypes.BIGINT),
    (FloatType, SqlTypes.FLOAT),
    (DoubleType, SqlTypes.DOUBLE),
    (DecimalType, SqlTypes.DECIMAL),
    (CharType, SqlTypes.CHAR),
    ((StringType, VarcharType), SqlTypes.VARCHAR),
    (BinaryType, SqlTypes.BINARY),
    (DateType, SqlTypes.DATE),
    ((TimestampType, TimestampNTZType), SqlTypes.TIMESTAMP),
    (ArrayType, SqlTypes.ARRAY),
    (MapType, SqlTypes.JAVA_OBJECT),
    (StructType, SqlTypes.STRUCT),
]
#: ``DataType.defaultSize`` of the types STS reports a COLUMN_SIZE for.
_DEFAULT_SIZES: list[tuple[type[DataType], int]] = [
    (BooleanType, 1),
    (ByteType, 1),
    (ShortType, 2),
    (IntegerType, 4),
    (LongType, 8),
    (FloatType, 4),
    (DoubleType, 8),
    (DateType, 4),
    (TimestampType, 8),
    (TimestampNTZType, 8),
    (CalendarIntervalType, 16),
    (NullType, 1),
    (YearMonthIntervalType, 4),
    (DayTimeIntervalType, 8),
]
_INTEGRAL = (ByteType, ShortType, IntegerType, LongType)
_NUMERIC = (*_INTEGRAL, FloatType, DoubleType, DecimalType)
_SIMPLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def declared_type(field: StructField) -> DataType:
    """The column's declared type: CHAR(n)/VARCHAR(n) columns are strings in Spark's schema
    with the declaration kept in the field metadata."""
    raw = (field.metadata or {}).get(CHAR_VARCHAR_METADATA_KEY)
    match = re.fullmatch(r"\s*(char|varchar)\s*\(\s*(\d+)\s*\)\s*", raw or "", re.IGNORECASE)
    if not isinstance(field.dataType, StringType) or match is None:
        return field.dataType
    length = int(match.group(2))
    return CharType(length) if match.group(1).lower() == "char" else VarcharType(length)


def java_type(dt: DataType) -> int:
    for spark_type, code in _JAVA_TYPES:
        if isinstance(dt, spark_type):
            return code
    return SqlTypes.OTHER


def type_sql(dt: DataType) -> str:
    """Spark's ``DataType.sql``: ``INT``, ``DECIMAL(10,2)``, ``ARRAY<STRING>``,
    ``STRUCT<a: INT, `b c`: STRING>``."""
    if isinstance(dt, ArrayType):
        return f"ARRAY<{type_sql(dt.elementType)}>"
    if isinstance(dt, MapType):
        return f"MAP<{type_sql(dt.keyType)}, {type_sql(dt.valueType)}>"
    if isinstance(dt, StructType):
        fields = ", ".join(f"{_quote_if_needed(f.name)}: {type_sql(f.dataType)}" for f in dt.fields)
        return f"STRUCT<{fields}>"
    if isinstance(dt, DecimalType):
        return f"DECIMAL({dt.precision},{dt.scale})"
    return str(dt.simpleString()).upper()


def _quote_if_needed(name: str) -> str:
    return name if _SIMPLE_NAME.fullmatch(name) else quote_identifier(name)


def column_size(dt: DataType) -> int | None:
    """STS's COLUMN_SIZE: ``DataType.defaultSize`` (also for DECIMAL: 8 up to precision 18,
    else 16), the declared length of CHAR/VARCHAR, the sum over a struct's fields."""
    if isinstance(dt, DecimalType):
        return 8 if dt.precision <= 18 else 16
    if isinstance(dt, CharType | VarcharType):
        return int(dt.length)
    if isinstance(dt, StructType):
        sizes = [column_size(f.dataType) for f in dt.fields]
        return None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
    for spark_type, size in _DEFAULT_SIZES:
        if isinstance(dt, spark_type):
            return size
    return None


def decimal_digits(dt: DataType) -> int | None:
    if isinstance(dt, (BooleanType, *_INTEGRAL)):
        return 0
    if isinstance(dt, FloatType):
        return 7
    if isinstance(dt, DoubleType):
        return 15
    if isinstance(dt, DecimalType):
        return int(dt.scale)
    if isinstance(dt, TimestampType | TimestampNTZType):
        return 6
    return None


def num_prec_radix(dt: DataType) -> int | None:
    return 10 if isinstance(dt, _NUMERIC) else None


# -- result schemas ----------------------------------------------------------------------------
def _schema(*columns: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, dt, True) for name, dt in columns])


# Short names keep the schema tables below readable: STRING, INT, SMALLINT, TINYINT, BOOLEAN.
S, N, H, B, Z = StringType(), IntegerType(), ShortType(), ByteType(), BooleanType()
CATALOGS_SCHEMA = _schema(("TABLE_CAT", S))
SCHEMAS_SCHEMA = _schema(("TABLE_SCHEM", S), ("TABLE_CATALOG", S))
TABLE_TYPES_SCHEMA = _schema(("TABLE_TYPE", S))
TABLES_SCHEMA = _schema(
    ("TABLE_CAT", S),
    ("TABLE_SCHEM", S),
    ("TABLE_NAME", S),
    ("TABLE_TYPE", S),
    ("REMARKS", S),
    ("TYPE_CAT", S),
    ("TYPE_SCHEM", S),
    ("TYPE_NAME", S),
    ("SELF_REFERENCING_COL_NAME", S),
    ("REF_GENERATION", S),
)
COLUMNS_SCHEMA = _schema(
    ("TABLE_CAT", S),
    ("TABLE_SCHEM", S),
    ("TABLE_NAME", S),
    ("COLUMN_NAME", S),
    ("DATA_TYPE", N),
    ("TYPE_NAME", S),
    ("COLUMN_SIZE", N),
    ("BUFFER_LENGTH", B),
    ("DECIMAL_DIGITS", N),
    ("NUM_PREC_RADIX", N),
    ("NULLABLE", N),
    ("REMARKS", S),
    ("COLUMN_DEF", S),
    ("SQL_DATA_TYPE", N),
    ("SQL_DATETIME_SUB", N),
    ("CHAR_OCTET_LENGTH", N),
    ("ORDINAL_POSITION", N),
    ("IS_NULLABLE", S),
    ("SCOPE_CATALOG", S),
    ("SCOPE_SCHEMA", S),
    ("SCOPE_TABLE", S),
    ("SOURCE_DATA_TYPE", H),
    ("IS_AUTO_INCREMENT", S),
)
TYPE_INFO_SCHEMA = _schema(
    ("TYPE_NAME", S),
    ("DATA_TYPE", N),
    ("PRECISION", N),
    ("LITERAL_PREFIX", S),
    ("LITERAL_SUFFIX", S),
    ("CREATE_PARAMS", S),
    ("NULLABLE", H),
    ("CASE_SENSITIVE", Z),
    ("SEARCHABLE", H),
    ("UNSIGNED_ATTRIBUTE", Z),
    ("FIXED_PREC_SCALE", Z),
    ("AUTO_INCREMENT", Z),
    ("LOCAL_TYPE_NAME", S),
    ("MINIMUM_SCALE", H),
    ("MAXIMUM_SCALE", H),
    ("SQL_DATA_TYPE", N),
    ("SQL_DATETIME_SUB", N),
    ("NUM_PREC_RADIX", N),
)
FUNCTIONS_SCHEMA = _schema(
    ("FUNCTION_CAT", S),
    ("FUNCTION_SCHEM", S),
    ("FUNCTION_NAME", S),
    ("REMARKS", S),
    ("FUNCTION_TYPE", N),
    ("SPECIFIC_NAME", S),
)
PRIMARY_KEYS_SCHEMA = _schema(
    ("TABLE_CAT", S),
    ("TABLE_SCHEM", S),
    ("TABLE_NAME", S),
    ("COLUMN_NAME", S),
    ("KEQ_SEQ", N),
    ("PK_NAME", S),
)
CROSS_REFERENCE_SCHEMA = _schema(
    ("PKTABLE_CAT", S),
    ("PKTABLE_SCHEM", S),
    ("PKTABLE_NAME", S),
    ("PKCOLUMN_NAME", S),
    ("FKTABLE_CAT", S),
    ("FKTABLE_SCHEM", S),
    ("FKTABLE_NAME", S),
    ("FKCOLUMN_NAME", S),
    ("KEQ_SEQ", N),
    ("UPDATE_RULE", H),
    ("DELETE_RULE", H),
    ("FK_NAME", S),
    ("PK_NAME", S),
    ("DEFERRABILITY", H),
)

_ARROW_TYPES: dict[type[DataType], pa.DataType] = {
    StringType: pa.string(),
    IntegerType: pa.int32(),
    ShortType: pa.int16(),
    ByteType: pa.int8(),
    BooleanType: pa.bool_(),
}


def rows_to_batch(schema: StructType, rows: Sequence[Row]) -> pa.RecordBatch:
    """A record batch of Python rows (``None`` = NULL) typed as ``schema`` says."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema.fields]
    arrays = [
        pa.array(list(values), _ARROW_TYPES[type(field.dataType)])
        for values, field in zip(columns, schema.fields, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=[f.name for f in schema.fields])


# -- GetTypeInfo rows ----------------------------------------------------------------------------
_SEARCHABLE, _PRED_NONE = 3, 0


def _type_info(
    name: str, code: int, precision: int | None, numeric: bool, text: bool, primitive: bool = True
) -> Row:
    return (
        name,
        code,
        precision,
        None,
        None,
        None,
        1,
        text,
        _SEARCHABLE if primitive else _PRED_NONE,
        False if numeric else None,
        False,
        False if numeric else None,
        None,
        0,
        0,
        None,
        None,
        10 if numeric else None,
    )


TYPE_INFO_ROWS: tuple[Row, ...] = (
    _type_info("VOID", SqlTypes.NULL, None, False, False),
    _type_info("BOOLEAN", SqlTypes.BOOLEAN, None, False, False),
    _type_info("STRING", SqlTypes.VARCHAR, None, False, True),
    _type_info("BINARY", SqlTypes.BINARY, None, False, False),
    _type_info("TINYINT", SqlTypes.TINYINT, 3, True, False),
    _type_info("SMALLINT", SqlTypes.SMALLINT, 5, True, False),
    _type_info("INT", SqlTypes.INTEGER, 10, True, False),
    _type_info("BIGINT", SqlTypes.BIGINT, 19, True, False),
    _type_info("FLOAT", SqlTypes.FLOAT, 7, True, False),
    _type_info("DOUBLE", SqlTypes.DOUBLE, 15, True, False),
    _type_info("DECIMAL", SqlTypes.DECIMAL, 38, True, False),
    _type_info("DATE", SqlTypes.DATE, None, False, False),
    _type_info("TIMESTAMP", SqlTypes.TIMESTAMP, None, False, False),
    _type_info("ARRAY", SqlTypes.ARRAY, None, False, False, primitive=False),
    _type_info("MAP", SqlTypes.JAVA_OBJECT, None, False, False, primitive=False),
    _type_info("STRUCT", SqlTypes.STRUCT, None, False, False, primitive=False),
    _type_info("CHAR", SqlTypes.CHAR, None, False, True),
    _type_info("VARCHAR", SqlTypes.VARCHAR, None, False, True),
    _type_info("INTERVAL_YEAR_MONTH", SqlTypes.OTHER, None, False, False),
    _type_info("INTERVAL_DAY_TIME", SqlTypes.OTHER, None, False, False),
)
