"""Metadata helpers of the engine: JDBC patterns, type names and sizes (no JVM)."""

from __future__ import annotations

import pytest
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DecimalType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
    YearMonthIntervalType,
)

from kyuubi_py.engine.spark.metadata_types import (
    COLUMNS_SCHEMA,
    TYPE_INFO_ROWS,
    TYPE_INFO_SCHEMA,
    column_size,
    decimal_digits,
    declared_type,
    java_type,
    jdbc_pattern,
    matches,
    pattern_regex,
    rows_to_batch,
    type_sql,
)


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("%", ".*"),
        ("a_c", "a.c"),
        ("a\\_c", "a_c"),
        ("50\\%", "50%"),
        (".*", ".*"),
        ("t%x", "t.*x"),
    ],
)
def test_pattern_regex_follows_hive(pattern: str, regex: str) -> None:
    assert pattern_regex(pattern) == regex


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        (None, "anything", True),
        ("", "anything", True),
        ("%", "Events", True),
        (".*", "events", True),  # impyla
        ("EVENT_", "events", True),  # case-insensitive, _ is one character
        ("event\\_s", "events", False),
        ("event\\_s", "event_s", True),
        ("ev%", "my_events", False),  # full match
        ("a(b", "a(b", True),  # invalid regex: literal
    ],
)
def test_jdbc_pattern_matching(pattern: str | None, name: str, expected: bool) -> None:
    assert matches(jdbc_pattern(pattern), name) is expected


def test_empty_table_pattern_matches_nothing() -> None:
    assert not matches(jdbc_pattern("", empty_is_all=False), "t")


def test_type_descriptions() -> None:
    struct = StructType([StructField("a", IntegerType()), StructField("b c", StringType())])
    assert type_sql(struct) == "STRUCT<a: INT, `b c`: STRING>"
    assert type_sql(MapType(StringType(), ArrayType(LongType()))) == "MAP<STRING, ARRAY<BIGINT>>"
    assert type_sql(DecimalType(10, 2)) == "DECIMAL(10,2)"
    assert type_sql(YearMonthIntervalType()) == "INTERVAL YEAR TO MONTH"
    assert [
        java_type(t)
        for t in (
            IntegerType(),
            StringType(),
            DecimalType(),
            TimestampType(),
            MapType(StringType(), StringType()),
            YearMonthIntervalType(),
        )
    ] == [4, 12, 3, 93, 2000, 1111]
    assert column_size(DecimalType(10, 2)) == 8 and column_size(DecimalType(38, 2)) == 16
    assert column_size(IntegerType()) == 4
    assert column_size(StringType()) is None and column_size(struct) is None
    assert decimal_digits(BooleanType()) == 0 and decimal_digits(DecimalType(10, 2)) == 2
    assert decimal_digits(TimestampType()) == 6 and decimal_digits(StringType()) is None


def test_declared_char_varchar() -> None:
    field = StructField("c", StringType(), metadata={"__CHAR_VARCHAR_TYPE_STRING": "varchar(20)"})
    assert type_sql(declared_type(field)) == "VARCHAR(20)"
    assert java_type(declared_type(field)) == 12 and column_size(declared_type(field)) == 20


def test_rows_to_batch_types_and_nulls() -> None:
    batch = rows_to_batch(TYPE_INFO_SCHEMA, list(TYPE_INFO_ROWS))
    assert batch.num_rows == len(TYPE_INFO_ROWS) == 20
    assert batch.schema.field("DATA_TYPE").type == "int32"
    assert batch.schema.field("NULLABLE").type == "int16"
    empty = rows_to_batch(COLUMNS_SCHEMA, [])
    assert empty.num_rows == 0 and empty.num_columns == 23
