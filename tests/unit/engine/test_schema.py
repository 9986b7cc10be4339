"""Spark types → HS2 schema, checked against Spark Thrift Server 4.3.0.

Expected strings marked "STS" were observed on the wire from STS 4.3.0 (the pyspark 4.3.0
wheel, local mode, Java 17) for the quoted SQL. No Spark is started here.
"""

from __future__ import annotations

import pytest
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

from kyuubi_py.engine.spark.schema import (
    CHAR_VARCHAR_METADATA_KEY,
    collect_sql,
    column_desc,
    column_kind,
    needs_string_cast,
    quote_identifier,
    table_schema,
    type_id,
)
from kyuubi_py.protocol.rowset import ColumnKind
from kyuubi_py.protocol.tcli import ttypes

V = ttypes.TProtocolVersion
T = ttypes.TTypeId


class PointUDT(UserDefinedType):  # type: ignore[type-arg]
    @classmethod
    def sqlType(cls) -> DataType:
        return ArrayType(DoubleType(), False)


# --------------------------------------------------------------------------------------------
# schema

ALL_TYPES: list[tuple[DataType, int, ColumnKind]] = [
    (BooleanType(), T.BOOLEAN_TYPE, ColumnKind.BOOL),
    (ByteType(), T.TINYINT_TYPE, ColumnKind.BYTE),
    (ShortType(), T.SMALLINT_TYPE, ColumnKind.I16),
    (IntegerType(), T.INT_TYPE, ColumnKind.I32),
    (LongType(), T.BIGINT_TYPE, ColumnKind.I64),
    (FloatType(), T.FLOAT_TYPE, ColumnKind.DOUBLE),
    (DoubleType(), T.DOUBLE_TYPE, ColumnKind.DOUBLE),
    (DecimalType(10, 2), T.DECIMAL_TYPE, ColumnKind.STRING),
    (StringType(), T.STRING_TYPE, ColumnKind.STRING),
    (StringType("UNICODE_CI"), T.STRING_TYPE, ColumnKind.STRING),
    (BinaryType(), T.BINARY_TYPE, ColumnKind.BINARY),
    (DateType(), T.DATE_TYPE, ColumnKind.STRING),
    (TimestampType(), T.TIMESTAMP_TYPE, ColumnKind.STRING),
    (TimestampNTZType(), T.TIMESTAMP_TYPE, ColumnKind.STRING),
    (ArrayType(IntegerType()), T.ARRAY_TYPE, ColumnKind.STRING),
    (MapType(StringType(), IntegerType()), T.MAP_TYPE, ColumnKind.STRING),
    (StructType([StructField("a", IntegerType())]), T.STRUCT_TYPE, ColumnKind.STRING),
    (NullType(), T.NULL_TYPE, ColumnKind.STRING),
    (CalendarIntervalType(), T.STRING_TYPE, ColumnKind.STRING),
    (GeometryType(0), T.STRING_TYPE, ColumnKind.STRING),
    (GeographyType(4326), T.STRING_TYPE, ColumnKind.STRING),
    # STS cannot describe these (it fails the query); kyuubi_py sends their text.
    (VariantType(), T.STRING_TYPE, ColumnKind.STRING),
    (TimeType(6), T.STRING_TYPE, ColumnKind.STRING),
    (PointUDT(), T.STRING_TYPE, ColumnKind.STRING),
]


PROTOCOLS = [
    V.HIVE_CLI_SERVICE_PROTOCOL_V1,
    V.HIVE_CLI_SERVICE_PROTOCOL_V6,
    V.HIVE_CLI_SERVICE_PROTOCOL_V8,
    V.HIVE_CLI_SERVICE_PROTOCOL_V10,
    V.HIVE_CLI_SERVICE_PROTOCOL_V11,
]


@pytest.mark.parametrize(("spark_type", "tid", "kind"), ALL_TYPES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_type_ids_and_kinds(
    spark_type: DataType, tid: int, kind: ColumnKind, protocol: int
) -> None:
    assert type_id(spark_type, protocol) == tid
    assert column_kind(spark_type) is kind


@pytest.mark.parametrize(
    ("spark_type", "ansi_id"),
    [
        (YearMonthIntervalType(0, 1), T.INTERVAL_YEAR_MONTH_TYPE),
        (YearMonthIntervalType(1, 1), T.INTERVAL_YEAR_MONTH_TYPE),
        (DayTimeIntervalType(0, 3), T.INTERVAL_DAY_TIME_TYPE),
        (DayTimeIntervalType(1, 1), T.INTERVAL_DAY_TIME_TYPE),
    ],
)
def test_interval_ids_only_from_v8(spark_type: DataType, ansi_id: int) -> None:
    # STS sends 20/21 to every session; impyla (V6) crashes on ids above 19, so below V8
    # (where INTERVAL ids appeared) they are STRING.
    for protocol in range(V.HIVE_CLI_SERVICE_PROTOCOL_V1, V.HIVE_CLI_SERVICE_PROTOCOL_V8):
        assert type_id(spark_type, protocol) == T.STRING_TYPE
    for protocol in range(V.HIVE_CLI_SERVICE_PROTOCOL_V8, V.HIVE_CLI_SERVICE_PROTOCOL_V11 + 1):
        assert type_id(spark_type, protocol) == ansi_id
    assert column_kind(spark_type) is ColumnKind.STRING


def test_never_timestamp_with_local_time_zone() -> None:
    for spark_type, _, _ in ALL_TYPES:
        assert type_id(spark_type, V.HIVE_CLI_SERVICE_PROTOCOL_V11) != T.TIMESTAMPLOCALTZ_TYPE


def entry(desc: ttypes.TColumnDesc) -> ttypes.TPrimitiveTypeEntry:
    (type_entry,) = desc.typeDesc.types
    assert type_entry.arrayEntry is None and type_entry.mapEntry is None
    assert type_entry.structEntry is None and type_entry.userDefinedTypeEntry is None
    return type_entry.primitiveEntry


def qualifiers(desc: ttypes.TColumnDesc) -> dict[str, int | str]:
    quals = entry(desc).typeQualifiers.qualifiers
    return {k: v.i32Value if v.i32Value is not None else v.stringValue for k, v in quals.items()}


def test_table_schema_like_sts() -> None:
    # STS: `select cast(1.5 as decimal(10,2)) d, timestamp'...' ts, array(1,2) a, map('k',1) m1,
    # named_struct(...) s, ...` → one primitiveEntry per column (also ARRAY/MAP/STRUCT),
    # 0-based positions, comment '', DECIMAL precision/scale, an empty qualifier map elsewhere.
    schema = StructType(
        [
            StructField("d", DecimalType(10, 2)),
            StructField("ts", TimestampType()),
            StructField("a", ArrayType(IntegerType(), False), False),
            StructField("m1", MapType(StringType(), IntegerType(), False), False),
            StructField("s", StructType([StructField("a", IntegerType())]), False),
            StructField("b", BinaryType(), metadata={"comment": "raw bytes"}),
        ]
    )
    columns = table_schema(schema, V.HIVE_CLI_SERVICE_PROTOCOL_V10).columns
    assert [c.columnName for c in columns] == ["d", "ts", "a", "m1", "s", "b"]
    assert [c.position for c in columns] == [0, 1, 2, 3, 4, 5]
    assert [c.comment for c in columns] == ["", "", "", "", "", "raw bytes"]
    assert [entry(c).type for c in columns] == [15, 8, 10, 11, 12, 9]
    assert qualifiers(columns[0]) == {"precision": 10, "scale": 2}
    assert all(qualifiers(c) == {} for c in columns[1:])


def test_char_varchar_columns_like_sts() -> None:
    # STS: `create table cv_t(c char(3), v varchar(5), s string); select c, v, s, array(c)` →
    # CHAR_TYPE {characterMaximumLength: 3}, VARCHAR_TYPE {5}, STRING, ARRAY; values 'a  ', 'b'.
    # Spark's result schema keeps them as StringType with the declared type in metadata.
    schema = StructType(
        [
            StructField("c", StringType(), metadata={CHAR_VARCHAR_METADATA_KEY: "char(3)"}),
            StructField("v", StringType(), metadata={CHAR_VARCHAR_METADATA_KEY: "varchar(5)"}),
            StructField("s", StringType()),
            StructField("ac", ArrayType(StringType()),
                        metadata={CHAR_VARCHAR_METADATA_KEY: "array<char(3)>"}),
        ]
    )  # fmt: skip
    columns = table_schema(schema, V.HIVE_CLI_SERVICE_PROTOCOL_V10).columns
    assert [entry(c).type for c in columns] == [19, 18, 7, 10]
    assert [qualifiers(c) for c in columns] == [
        {"characterMaximumLength": 3},
        {"characterMaximumLength": 5},
        {},
        {},
    ]
    # `cast('a' as char(3))` has no such metadata: STS reports STRING (observed).
    assert type_id(StringType(), V.HIVE_CLI_SERVICE_PROTOCOL_V10) == T.STRING_TYPE
    assert type_id(CharType(3), V.HIVE_CLI_SERVICE_PROTOCOL_V10) == T.CHAR_TYPE
    assert type_id(VarcharType(3), V.HIVE_CLI_SERVICE_PROTOCOL_V10) == T.VARCHAR_TYPE
    # CHAR ids exist from V4, VARCHAR from V3.
    assert type_id(CharType(3), V.HIVE_CLI_SERVICE_PROTOCOL_V3) == T.STRING_TYPE
    assert type_id(VarcharType(3), V.HIVE_CLI_SERVICE_PROTOCOL_V3) == T.VARCHAR_TYPE
    assert type_id(VarcharType(3), V.HIVE_CLI_SERVICE_PROTOCOL_V2) == T.STRING_TYPE


def test_column_desc_round_trips_through_thrift() -> None:
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TTransport

    desc = column_desc("x", DecimalType(38, 18), 3, None, V.HIVE_CLI_SERVICE_PROTOCOL_V6)
    buf = TTransport.TMemoryBuffer()
    desc.write(TBinaryProtocol.TBinaryProtocolAccelerated(buf))
    back = ttypes.TColumnDesc()
    back.read(TBinaryProtocol.TBinaryProtocolAccelerated(TTransport.TMemoryBuffer(buf.getvalue())))
    assert back == desc and back.comment == ""
    desc.validate()


# --------------------------------------------------------------------------------------------
# collection rewrites


def test_needs_string_cast() -> None:
    arrow_ok = [t for t, _, _ in ALL_TYPES if not isinstance(t, VariantType | UserDefinedType)]
    assert not any(needs_string_cast(t) for t in arrow_ok)
    assert not needs_string_cast(DayTimeIntervalType(0, 3))
    # pyspark 4.3: year-month intervals fail Arrow collect (KeyError 21); variants and UDTs
    # come back as their storage structs.
    for spark_type in (YearMonthIntervalType(0, 1), VariantType(), PointUDT()):
        assert needs_string_cast(spark_type)
        assert needs_string_cast(ArrayType(spark_type))
        assert needs_string_cast(MapType(StringType(), spark_type))
        assert needs_string_cast(StructType([StructField("x", spark_type)]))


def test_collect_sql() -> None:
    assert collect_sql("`c`", IntegerType()) == "`c`"
    assert collect_sql("`c`", YearMonthIntervalType(0, 1)) == (
        "(extract(YEAR FROM `c`) * 12 + extract(MONTH FROM `c`))"
    )
    assert collect_sql("`c`", YearMonthIntervalType(0, 0)) == "(CAST(`c` AS INT) * 12)"
    assert collect_sql("`c`", YearMonthIntervalType(1, 1)) == "CAST(`c` AS INT)"
    assert collect_sql("`c`", VariantType()) == "to_json(`c`)"
    assert collect_sql("`c`", PointUDT()) == "CAST(`c` AS STRING)"
    assert collect_sql("`c`", ArrayType(VariantType())) == (
        "transform(`c`, _kyuubi_py_0 -> to_json(_kyuubi_py_0))"
    )
    assert collect_sql("`c`", MapType(StringType(), YearMonthIntervalType(1, 1))) == (
        "transform(map_entries(`c`), _kyuubi_py_0 -> "
        "struct(_kyuubi_py_0.key AS key, CAST(_kyuubi_py_0.value AS INT) AS value))"
    )
    struct_type = StructType([StructField("it's", VariantType()), StructField("n", IntegerType())])
    assert collect_sql("`c`", struct_type) == (
        "if(`c` IS NULL, NULL, named_struct('it\\'s', to_json(`c`.`it's`), 'n', `c`.`n`))"
    )
    duplicate = StructType([StructField("a", VariantType()), StructField("a", IntegerType())])
    assert collect_sql("`c`", duplicate) == "CAST(`c` AS STRING)"
    assert quote_identifier("we`ird") == "`we``ird`"
