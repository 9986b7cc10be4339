"""Collected Spark values → HS2 wire arrays, checked against Spark Thrift Server 4.3.0.

Expected strings marked "STS" were observed on the wire from STS 4.3.0 (the pyspark 4.3.0
wheel, local mode, Java 17) for the quoted SQL; the input arrays are the Arrow types pyspark
4.3's ``DataFrame._collect_as_arrow()`` returns for those columns (see each test). No Spark is
started here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import struct

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    CalendarIntervalType,
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
    VariantType,
    YearMonthIntervalType,
)

from kyuubi_py.engine.spark.schema import column_kind
from kyuubi_py.engine.spark.values import to_wire_array
from kyuubi_py.protocol.rowset import encode_columnar_rowset, rowbased_rowset
from kyuubi_py.protocol.tcli import ttypes


class PointUDT(UserDefinedType):  # type: ignore[type-arg]
    @classmethod
    def sqlType(cls) -> DataType:
        return ArrayType(DoubleType(), False)


def wire(arr: pa.Array, spark_type: DataType, tz: str = "UTC", **kw: object) -> list[object]:
    return to_wire_array(arr, spark_type, tz, **kw).to_pylist()  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# primitive values (pyspark's Arrow types: bool, int8/16/32/64, float, double, decimal128,
# string, binary, date32, timestamp[us, tz=<session tz>], timestamp[us], duration[us],
# month_day_nano_interval, time64[ns], null)


def test_fixed_width_pass_through() -> None:
    assert wire(pa.array([True, None]), BooleanType()) == [True, None]
    assert to_wire_array(pa.array([1, None], pa.int8()), ByteType(), "UTC").type == pa.int8()
    assert to_wire_array(pa.array([1], pa.int16()), ShortType(), "UTC").type == pa.int16()
    assert to_wire_array(pa.array([1], pa.int32()), IntegerType(), "UTC").type == pa.int32()
    assert to_wire_array(pa.array([1], pa.int64()), LongType(), "UTC").type == pa.int64()
    assert wire(pa.array([1.1, None]), DoubleType()) == [1.1, None]
    assert wire(pa.array([b"abc", None]), BinaryType()) == [b"abc", None]  # STS: binaryVal b'abc'
    assert wire(pa.array(["x", None, ""]), StringType()) == ["x", None, ""]
    assert wire(pa.nulls(2), NullType()) == [None, None]  # STS: stringVal [''] nulls 01


def float32(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


# STS (Java 17): FLOAT → Double.valueOf(Float.toString(f)); from `select f from parquet` of
# random float32 bit patterns.
FLOAT_STS = [
    (0x3F8CCCCD, 1.1),  # cast(1.1 as float)
    (0xDD953FA0, -1.34431129e18),
    (0x945E59E3, -1.1225863e-26),
    (0x4C88D447, 71737912.0),
    (0x4FE453F3, 7661413900.0),
    (0x535A1D0B, 936790130000.0),
    (0x66B7C2E2, 4.33894e23),
    (0x5017C99F, 10186292200.0),
    (0x00000001, 1.4e-45),  # Float.MIN_VALUE
    (0x7F7FFFFF, 3.4028235e38),
    (0x4B800001, 16777218.0),
]


def test_float_as_sts_java17() -> None:
    values = [float32(bits) for bits, _ in FLOAT_STS]
    arr = pa.array(np.array(values, dtype=np.float32))
    assert wire(arr, FloatType()) == [expected for _, expected in FLOAT_STS]
    specials = pa.array(np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype=np.float32))
    got = wire(specials, FloatType())
    assert math.isnan(got[0]) and got[1:3] == [math.inf, -math.inf]
    assert math.copysign(1, got[3]) == -1 and got[4] == 0
    assert wire(pa.array([1.5, None], pa.float32()), FloatType()) == [1.5, None]


def test_float_shortest_on_java19_plus() -> None:
    arr = pa.array(np.array([float32(0xDD953FA0), float32(0x4C88D447), float32(1)], np.float32))
    assert wire(arr, FloatType(), java_version=21) == [-1.3443113e18, 71737910.0, 1.4e-45]


def test_decimal_plain_text() -> None:
    D = decimal.Decimal
    # STS: cast(0 as decimal(38,18)), cast(-0.000000001 as decimal(20,10)),
    # cast(12345678901234567890.123456789 as decimal(38,9)),
    # cast(-12345678901234567890123456789012345678 as decimal(38,0)), 0.5 / -0.5 as decimal(1,1)
    cases = [
        (DecimalType(10, 2), D("1.50"), "1.50"),
        (DecimalType(38, 18), D(0), "0.000000000000000000"),
        (DecimalType(20, 10), D("-0.0000000010"), "-0.0000000010"),
        (DecimalType(38, 9), D("12345678901234567890.123456789"), "12345678901234567890.123456789"),
        (DecimalType(38, 0), D("-12345678901234567890123456789012345678"),
         "-12345678901234567890123456789012345678"),
        (DecimalType(1, 1), D("0.5"), "0.5"),
        (DecimalType(1, 1), D("-0.5"), "-0.5"),
    ]  # fmt: skip
    for spark_type, value, expected in cases:
        assert isinstance(spark_type, DecimalType)
        arrow_type = pa.decimal128(spark_type.precision, spark_type.scale)
        assert wire(pa.array([value, None], arrow_type), spark_type) == [expected, None]


def test_decimal_mixed_widths_and_slices() -> None:
    D = decimal.Decimal
    values = [D("9223372036854775807"), D("-9223372036854775808"), D("99999999999999999999"),
              None, D("-1"), D("0"), D("123500000000000000"),
              D("-99999999999999999999999999999999999999")]  # fmt: skip
    arr = pa.array(values, pa.decimal128(38, 0))
    expected = [None if v is None else f"{v:f}" for v in values]
    assert wire(arr, DecimalType(38, 0)) == expected
    assert wire(arr.slice(2, 4), DecimalType(38, 0)) == expected[2:6]
    scaled = pa.array([D("1.5"), D("-0.000001"), D("12345678901234.123456")], pa.decimal128(20, 6))
    assert wire(scaled, DecimalType(20, 6)) == ["1.500000", "-0.000001", "12345678901234.123456"]
    tiny = pa.array([D("1E-30"), D("-5E-31")], pa.decimal128(38, 31))
    assert wire(tiny, DecimalType(38, 31)) == [
        "0.0000000000000000000000000000010",
        "-0.0000000000000000000000000000005",
    ]


def test_dates() -> None:
    # STS: date'0001-01-01', date'1000-03-04', date'1582-10-10', date'9999-12-31',
    # date'+10000-01-01', date'-0001-01-01', date'2024-01-02'
    def days(year: int, month: int, day: int) -> int:
        return (dt.date(year, month, day) - dt.date(1970, 1, 1)).days

    # +10000-01-01 and -0001-01-01 lie outside datetime.date: one day after 9999-12-31, and
    # 0001-01-01 minus the leap year 0 and the year -1.
    days = [days(1, 1, 1), days(1000, 3, 4), days(1582, 10, 10), days(9999, 12, 31),
            days(9999, 12, 31) + 1, days(1, 1, 1) - 366 - 365, days(2024, 1, 2)]  # fmt: skip
    arr = pa.array(days + [None], pa.int32()).cast(pa.date32())
    assert wire(arr, DateType()) == [
        "0001-01-01", "1000-03-04", "1582-10-10", "9999-12-31", "+10000-01-01", "-0001-01-01",
        "2024-01-02", None,
    ]  # fmt: skip


def micros(text: str) -> int:
    value = dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)
    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def test_timestamps_utc() -> None:
    # STS (session time zone UTC): timestamp'2024-01-02 03:04:05.123', '...05.000001', '...05.100',
    # timestamp'0001-01-01 00:00:00', timestamp'1900-01-01 00:00:00.000001'
    instants = [micros("2024-01-02 03:04:05.123"), micros("2024-01-02 03:04:05.000001"),
                micros("2024-01-02 03:04:05.100"), micros("0001-01-01 00:00:00"),
                micros("1900-01-01 00:00:00.000001"), None]  # fmt: skip
    arr = pa.array(instants, pa.timestamp("us", tz="UTC"))
    assert wire(arr, TimestampType()) == [
        "2024-01-02 03:04:05.123", "2024-01-02 03:04:05.000001", "2024-01-02 03:04:05.1",
        "0001-01-01 00:00:00", "1900-01-01 00:00:00.000001", None,
    ]  # fmt: skip
    # STS: timestamp'+10000-01-01 00:00:00', timestamp'-0001-01-01 00:00:00'
    far = pa.array([253402300800000000, -62198755200000000], pa.timestamp("us", tz="UTC"))
    assert wire(far, TimestampType()) == ["+10000-01-01 00:00:00", "-0001-01-01 00:00:00"]


def test_timestamps_in_session_zone() -> None:
    # STS, spark.sql.session.timeZone=America/Los_Angeles: timestamp_seconds(1710064799 ...)
    seconds = [1710064799, 1710064800, 1730624399, 1730624400, -2717640001, -2717640000,
               4118227200, 253402300799]  # fmt: skip
    arr = pa.array([s * 1_000_000 for s in seconds] + [-62135596800000000],
                   pa.timestamp("us", tz="America/Los_Angeles"))  # fmt: skip
    assert wire(arr, TimestampType(), "America/Los_Angeles") == [
        "2024-03-10 01:59:59", "2024-03-10 03:00:00", "2024-11-03 01:59:59", "2024-11-03 01:00:00",
        "1883-11-18 12:07:01", "1883-11-18 12:00:00",
        "2100-07-02 09:00:00",  # DST after the zone file's last transition (Arrow says 08:00)
        "9999-12-31 15:59:59", "0000-12-31 16:07:02",
    ]  # fmt: skip
    epoch = pa.array([0, 1710064800 * 1_000_000], pa.timestamp("us", tz="UTC"))
    # STS: session time zones '+05:30', 'GMT+8', '-8:00'
    assert wire(epoch, TimestampType(), "+05:30") == ["1970-01-01 05:30:00", "2024-03-10 15:30:00"]
    assert wire(epoch, TimestampType(), "GMT+8") == ["1970-01-01 08:00:00", "2024-03-10 18:00:00"]
    assert wire(epoch[:1], TimestampType(), "-8:00") == ["1969-12-31 16:00:00"]
    # STS: 'PST' (a Java short id for America/Los_Angeles)
    summer = pa.array([0, 1720064800 * 1_000_000], pa.timestamp("us", tz="UTC"))
    assert wire(summer, TimestampType(), "PST") == ["1969-12-31 16:00:00", "2024-07-03 20:46:40"]


def test_timestamp_ntz_is_not_shifted() -> None:
    # STS (any session zone): timestamp_ntz'2024-01-02 03:04:05.100',
    # timestamp_ntz'2024-03-10 02:30:00'
    arr = pa.array(
        [micros("2024-01-02 03:04:05.100"), micros("2024-03-10 02:30:00")], pa.timestamp("us")
    )
    assert wire(arr, TimestampNTZType(), "America/Los_Angeles") == [
        "2024-01-02 03:04:05.1",
        "2024-03-10 02:30:00",
    ]


def test_time_of_day() -> None:
    # STS rejects TIME; kyuubi_py sends Spark's cast text (`cast(time'12:34:56.100' as string)`)
    nanos = [45296789000000, 3723000000000, 45296100000000, None]
    arr = pa.array(nanos, pa.int64()).cast(pa.time64("ns"))
    assert wire(arr, TimeType(6)) == ["12:34:56.789", "01:02:03", "12:34:56.1", None]


def test_day_time_intervals() -> None:
    # STS: interval '1 02:03:04' day to second, '2' day, '25' hour, '3.25' second, '-3.25' second,
    # '-2' day, max and min values
    us = [93784000000, 172800000000, 90000000000, 3250000, -3250000, -172800000000,
          2**63 - 1, -(2**63), None]  # fmt: skip
    arr = pa.array(us, pa.int64()).cast(pa.duration("us"))
    assert wire(arr, DayTimeIntervalType(0, 3)) == [
        "1 02:03:04.000000000", "2 00:00:00.000000000", "1 01:00:00.000000000",
        "0 00:00:03.250000000", "-0 00:00:03.250000000", "-2 00:00:00.000000000",
        "106751991 04:00:54.775807000", "-106751991 04:00:54.775808000", None,
    ]  # fmt: skip


def test_year_month_intervals_from_month_counts() -> None:
    # collect_sql turns them into month counts; STS: interval '1-2', '3' year, '5' month,
    # '-13' month, '178956970-7', '-178956970-8'
    months = pa.array([14, 36, 5, -13, 2147483647, -2147483648, None], pa.int32())
    assert wire(months, YearMonthIntervalType(0, 1)) == [
        "1-2", "3-0", "0-5", "-1-1", "178956970-7", "-178956970-8", None,
    ]  # fmt: skip


def test_calendar_intervals() -> None:
    # STS (as STRING): make_interval(1,2,3,4,5,6,7.5), make_interval(0,...,0),
    # make_interval(-1,0,0,-1,0,0,-0.000001), make_interval(0,0,0,0,0,0,1)
    mdn = pa.month_day_nano_interval()
    values = [(14, 25, 18367500000000), (0, 0, 0), (-12, -1, -1000), (0, 0, 1000000000), None]
    arr = pa.array(values, mdn)
    assert wire(arr, CalendarIntervalType()) == [
        "1 years 2 months 25 days 5 hours 6 minutes 7.5 seconds", "0 seconds",
        "-1 years -1 days -0.000001 seconds", "1 seconds", None,
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# complex values


def test_complex_types_like_sts() -> None:
    # STS: array(1,2), map('k',1), map(1,'a'), named_struct('a',1,'b','z','c',null), array('x'),
    # array(timestamp'2024-01-02 03:04:05'), named_struct('d', date'2024-01-01')
    assert wire(pa.array([[1, 2]], pa.list_(pa.int32())), ArrayType(IntegerType())) == ["[1,2]"]
    m1 = pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int32()))
    assert wire(m1, MapType(StringType(), IntegerType())) == ['{"k":1}']
    m2 = pa.array([[(1, "a")]], pa.map_(pa.int32(), pa.string()))
    assert wire(m2, MapType(IntegerType(), StringType())) == ['{1:"a"}']
    struct_type = StructType([StructField("a", IntegerType()), StructField("b", StringType()),
                              StructField("c", IntegerType())])  # fmt: skip
    s = pa.array([{"a": 1, "b": "z", "c": None}],
                 pa.struct([("a", pa.int32()), ("b", pa.string()), ("c", pa.int32())]))  # fmt: skip
    assert wire(s, struct_type) == ['{"a":1,"b":"z","c":null}']
    assert wire(pa.array([["x"]]), ArrayType(StringType())) == ['["x"]']
    ts = pa.array([[micros("2024-01-02 03:04:05")]], pa.list_(pa.timestamp("us", tz="UTC")))
    assert wire(ts, ArrayType(TimestampType())) == ["[2024-01-02 03:04:05]"]
    d = pa.array([{"d": dt.date(2024, 1, 1)}], pa.struct([("d", pa.date32())]))
    assert wire(d, StructType([StructField("d", DateType())])) == ['{"d":2024-01-01}']


def test_map_entries_sorted_as_java_strings() -> None:
    # STS: map(2,'a',10,'b',1,'c') → {10:"b",1:"c",2:"a"};
    # map('b',1,'a',2,'ab',3,'B',4) → {"B":4,"a":2,"ab":3,"b":1};
    # map('ü',1,'z',2,'\uFFFD',3,'😀',4) → {"z":2,"ü":1,"😀":4,"�":3} (UTF-16 order)
    ints = pa.array([[(2, "a"), (10, "b"), (1, "c")]], pa.map_(pa.int32(), pa.string()))
    assert wire(ints, MapType(IntegerType(), StringType())) == ['{10:"b",1:"c",2:"a"}']
    strs = pa.array([[("b", 1), ("a", 2), ("ab", 3), ("B", 4)]], pa.map_(pa.string(), pa.int32()))
    assert wire(strs, MapType(StringType(), IntegerType())) == ['{"B":4,"a":2,"ab":3,"b":1}']
    astral = pa.array([[("ü", 1), ("z", 2), ("\ufffd", 3), ("😀", 4)], None, []],
                      pa.map_(pa.string(), pa.int32()))  # fmt: skip
    assert wire(astral, MapType(StringType(), IntegerType())) == [
        '{"z":2,"ü":1,"😀":4,"\ufffd":3}', None, "{}",
    ]  # fmt: skip


def test_nested_values_like_sts() -> None:
    # STS: named_struct('a', named_struct('x', 'q"uote', 'y', array(null, 'n')))
    inner = StructType([StructField("x", StringType()), StructField("y", ArrayType(StringType()))])
    outer = StructType([StructField("a", inner)])
    arr = pa.array([{"a": {"x": 'q"uote', "y": [None, "n"]}}])
    assert wire(arr, outer) == ['{"a":{"x":"q"uote","y":[null,"n"]}}']
    # STS: array(array(1), null, array()), array(true, false, null), array('', 'a,b', 'b"c')
    nested = pa.array([[[1], None, []]], pa.list_(pa.list_(pa.int32())))
    assert wire(nested, ArrayType(ArrayType(IntegerType()))) == ["[[1],null,[]]"]
    assert wire(pa.array([[True, False, None]]), ArrayType(BooleanType())) == ["[true,false,null]"]
    assert wire(pa.array([["", "a,b", 'b"c']]), ArrayType(StringType())) == ['["","a,b","b"c"]']
    # STS: map('x', null), map(1.5d, array(1)), map(array(1,2), 'x'), map(named_struct('a',1), 1)
    assert wire(pa.array([[("x", None)]], pa.map_(pa.string(), pa.int32())),
                MapType(StringType(), IntegerType())) == ['{"x":null}']  # fmt: skip
    assert wire(pa.array([[(1.5, [1])]], pa.map_(pa.float64(), pa.list_(pa.int32()))),
                MapType(DoubleType(), ArrayType(IntegerType()))) == ["{1.5:[1]}"]  # fmt: skip
    assert wire(pa.array([[([1, 2], "x")]], pa.map_(pa.list_(pa.int32()), pa.string())),
                MapType(ArrayType(IntegerType()), StringType())) == ['{[1,2]:"x"}']  # fmt: skip
    # STS: array(null) / map('x', null) with NullType values
    assert wire(pa.array([[None]], pa.list_(pa.null())), ArrayType(NullType())) == ["[null]"]


def test_nested_floats_decimals_binary_dates_intervals() -> None:
    # STS: array(cast(1.1 as float), 1e10, 1e-5, 100, NaN, -Infinity, 0.001, 1234567, 12345678)
    floats = np.array([1.1, 1e10, 1e-5, 100, np.nan, -np.inf, 0.001, 1234567, 12345678], np.float32)
    assert wire(pa.array([floats]), ArrayType(FloatType())) == [
        "[1.1,1.0E10,1.0E-5,100.0,NaN,-Infinity,0.001,1234567.0,1.2345678E7]"
    ]
    # STS (Java 17): array of floats from the random sample
    sample = np.array([float32(0xDD953FA0), 8.814343e-13, float32(1)], np.float32)
    assert wire(pa.array([sample]), ArrayType(FloatType())) == [
        "[-1.34431129E18,8.814343E-13,1.4E-45]"
    ]
    # STS: array(cast(1.5 as decimal(10,2)), null) widened to decimal(38,18)
    decs = pa.array([[decimal.Decimal("1.5"), None]], pa.list_(pa.decimal128(38, 18)))
    assert wire(decs, ArrayType(DecimalType(38, 18))) == ["[1.500000000000000000,null]"]
    # STS: array(cast('abc' as binary), null, X'FF00'), named_struct('b', X'C3A9')
    bins = pa.array([[b"abc", None, b"\xff\x00"]])
    assert wire(bins, ArrayType(BinaryType())) == ["[abc,null,\ufffd\x00]"]
    sb = pa.array([{"b": b"\xc3\xa9"}], pa.struct([("b", pa.binary())]))
    assert wire(sb, StructType([StructField("b", BinaryType())])) == ['{"b":é}']
    # STS: array(date'2024-01-02', null)
    dates = pa.array([[dt.date(2024, 1, 2), None]], pa.list_(pa.date32()))
    assert wire(dates, ArrayType(DateType())) == ["[2024-01-02,null]"]
    # STS: array(interval '1 02:03:04.5' day to second, interval '-1 02:03:04' day to second)
    dts = pa.array([[93784500000, -93784000000]], pa.list_(pa.int64())).cast(
        pa.list_(pa.duration("us"))
    )
    assert wire(dts, ArrayType(DayTimeIntervalType(0, 3))) == [
        "[1 02:03:04.500000000,-1 02:03:04.000000000]"
    ]
    # STS: array(interval '1-2' year to month, interval '-1-2' ...) via collect_sql month counts
    yms = pa.array([[14, -14]], pa.list_(pa.int32()))
    assert wire(yms, ArrayType(YearMonthIntervalType(0, 1))) == ["[1-2,-1-2]"]
    # STS: array(make_interval(1,0,0,0,0,0,0)) → [1 years]
    cis = pa.array([[(12, 0, 0)]], pa.list_(pa.month_day_nano_interval()))
    assert wire(cis, ArrayType(CalendarIntervalType())) == ["[1 years]"]


def test_collect_sql_map_form_and_preformatted_text() -> None:
    # A map rewritten by collect_sql arrives as list<struct<key, value>>.
    entry_type = pa.struct([("key", pa.string()), ("value", pa.int32())])
    entries = pa.array(
        [[{"key": "b", "value": 1}, {"key": "a", "value": 2}], None], pa.list_(entry_type)
    )
    ym_map = MapType(StringType(), YearMonthIntervalType(1, 1))
    assert wire(entries, ym_map) == ['{"a":0-2,"b":0-1}', None]
    # Variants / UDTs arrive as text and are used as is (nested: unquoted, like toString).
    assert wire(pa.array(['{"a":1}', None]), VariantType()) == ['{"a":1}', None]
    assert wire(pa.array([["[1.0,2.0]"]]), ArrayType(PointUDT())) == ["[[1.0,2.0]]"]
    with pytest.raises(TypeError, match="collect_sql"):
        to_wire_array(pa.array([{"value": b"", "metadata": b""}]), VariantType(), "UTC")


def test_sliced_complex_arrays() -> None:
    lists = pa.array([[1], [2, 3], None, [], [4]], pa.list_(pa.int32())).slice(1, 3)
    assert wire(lists, ArrayType(IntegerType())) == ["[2,3]", None, "[]"]
    maps = pa.array([[("a", 1)], [("c", 3), ("b", 2)], None], pa.map_(pa.string(), pa.int32()))
    assert wire(maps.slice(1), MapType(StringType(), IntegerType())) == ['{"b":2,"c":3}', None]
    structs = pa.array([{"x": 1}, {"x": 2}, None, {"x": None}], pa.struct([("x", pa.int32())]))
    assert wire(structs.slice(1), StructType([StructField("x", IntegerType())])) == [
        '{"x":2}', None, '{"x":null}',
    ]  # fmt: skip
    empty = pa.array([{}, None], pa.struct([]))
    assert wire(empty, StructType([])) == ["{}", None]


def test_large_var_types() -> None:
    # spark.sql.execution.arrow.useLargeVarTypes=true: 64-bit offsets everywhere
    lists = pa.array([["a", None], None], pa.large_list(pa.large_string()))
    assert wire(lists, ArrayType(StringType())) == ['["a",null]', None]
    maps = pa.array([[("k", "v"), ("a", None)]], pa.map_(pa.large_string(), pa.large_string()))
    assert wire(maps, MapType(StringType(), StringType())) == ['{"a":null,"k":"v"}']
    structs = pa.array([{"s": "x"}, None], pa.struct([("s", pa.large_string())]))
    assert wire(structs, StructType([StructField("s", StringType())])) == ['{"s":"x"}', None]
    binaries = pa.array([[b"a", b"\xff"]], pa.large_list(pa.large_binary()))
    assert wire(binaries, ArrayType(BinaryType())) == ["[a,\ufffd]"]
    assert to_wire_array(pa.array([b"x"], pa.large_binary()), BinaryType(), "UTC").type == (
        pa.large_binary()
    )
    assert wire(pa.array(["a"], pa.large_string()), StringType("UNICODE_CI")) == ['"a"']


def test_collated_strings() -> None:
    # STS quotes collated strings in columnar results ('a' collate unicode_ci → "a") but not in
    # row-based ones (V5 → a).
    arr = pa.array(["a", None])
    assert wire(arr, StringType("UNICODE_CI")) == ['"a"', None]
    assert wire(arr, StringType("UNICODE_CI"), row_based=True) == ["a", None]
    assert wire(pa.array([["b"]]), ArrayType(StringType("UNICODE_CI"))) == ['["b"]']


def test_geometry_and_geography() -> None:
    point = bytes.fromhex("0101000000000000000000F03F0000000000000040")
    arr = pa.array([{"srid": 0, "wkb": point}, None],
                   pa.struct([("srid", pa.int32()), ("wkb", pa.binary())]))  # fmt: skip
    # STS: st_geomfromwkb(...) → POINT(1 2); array(...) → ["POINT(1 2)"];
    # st_geogfromwkb(...) → SRID=4326;POINT(1 2)
    assert wire(arr, GeometryType(0)) == ["POINT(1 2)", None]
    nested = pa.array([[{"srid": 0, "wkb": point}]])
    assert wire(nested, ArrayType(GeometryType(0))) == ['["POINT(1 2)"]']
    geo = pa.array([{"srid": 4326, "wkb": point}])
    assert wire(geo, GeographyType(4326)) == ["SRID=4326;POINT(1 2)"]


# --------------------------------------------------------------------------------------------
# into the rowset encoder


def test_wire_arrays_encode_and_row_mode() -> None:
    columns = [
        (IntegerType(), pa.array([1, None], pa.int32())),
        (FloatType(), pa.array([1.1, None], pa.float32())),
        (DecimalType(10, 2), pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2))),
        (BinaryType(), pa.array([b"abc", None])),
        (NullType(), pa.nulls(2)),
        (ArrayType(IntegerType()), pa.array([[1], None], pa.list_(pa.int32()))),
    ]
    wired = [(column_kind(t), to_wire_array(a, t, "UTC")) for t, a in columns]
    parts = encode_columnar_rowset(wired, 0)
    assert b"1.50" in b"".join(parts)
    # STS at V5 (row-based): interval → stringVal '1-2', NULL int → i32Val(value unset),
    # NULL → stringVal(value unset), BINARY → stringVal 'abc'
    rowset = rowbased_rowset(wired, 0)
    first, second = rowset.rows
    assert first.colVals[1].doubleVal.value == 1.1
    assert first.colVals[2].stringVal.value == "1.50"
    assert first.colVals[3].stringVal.value == "abc"
    assert first.colVals[4] == ttypes.TColumnValue(stringVal=ttypes.TStringValue())
    assert second.colVals[0] == ttypes.TColumnValue(i32Val=ttypes.TI32Value())
    assert second.colVals[5] == ttypes.TColumnValue(stringVal=ttypes.TStringValue())
