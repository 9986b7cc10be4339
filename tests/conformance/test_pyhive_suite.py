"""pyhive 0.7.0 (DB-API) against the server under test: what a pyhive user sees.

Expected values are Spark Thrift Server 4.3.0's (observed with pyhive against STS from the pyspark
wheel, session time zone Etc/UTC); where a value was not obvious the comment says "STS".
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from clients import (
    USER,
    HS2Target,
    column_names,
    column_types,
    pyhive_connect,
    sleep_sql,
    table_names_from_show_tables,
    unique_name,
)
from pyhive import exc, hive
from TCLIService.ttypes import TOperationState

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def connection(hs2_target: HS2Target) -> Iterator[hive.Connection]:
    conn = pyhive_connect(hs2_target)
    yield conn
    conn.close()


@pytest.fixture
def cursor(connection: hive.Connection) -> Iterator[hive.Cursor]:
    cur = connection.cursor()
    yield cur
    cur.close()


def query(cur: hive.Cursor, sql: str) -> list[tuple[Any, ...]]:
    cur.execute(sql)
    return [tuple(row) for row in cur.fetchall()]


def pyhive_types(target: HS2Target, type_codes: list[str]) -> list[str]:
    """pyhive negotiates V6, so checklist item 32 has intervals reach it as STRING_TYPE (STS
    sends INTERVAL_YEAR_MONTH/DAY_TIME to V6 sessions too)."""
    if not target.has("intervals_below_v8_as_string"):
        return type_codes
    return ["STRING_TYPE" if t.startswith("INTERVAL_") else t for t in type_codes]


# --------------------------------------------------------------------------------------------------
# Values of every Spark SQL type through a real query: (select list, pyhive type codes, row)

TS = dt.datetime
VALUE_CASES: dict[str, tuple[str, list[str], tuple[Any, ...]]] = {
    "boolean": ("true, false", ["BOOLEAN_TYPE"] * 2, (True, False)),
    "tinyint": (
        "cast(-128 as tinyint), cast(127 as tinyint)",
        ["TINYINT_TYPE"] * 2,
        (-128, 127),
    ),
    "smallint": (
        "cast(-32768 as smallint), cast(32767 as smallint)",
        ["SMALLINT_TYPE"] * 2,
        (-32768, 32767),
    ),
    "int": ("cast(-2147483648 as int), 2147483647", ["INT_TYPE"] * 2, (-2147483648, 2147483647)),
    "bigint": (
        "cast(-9223372036854775808 as bigint), 9223372036854775807",
        ["BIGINT_TYPE"] * 2,
        (-9223372036854775808, 9223372036854775807),
    ),
    # FLOAT travels as a double parsed from the float's decimal string (1.1f -> 1.1, STS).
    "float": (
        "cast(1.1 as float), cast(0.1 as float), cast(3.4028235E38 as float), "
        "cast(-1.17549435E-38 as float)",
        ["FLOAT_TYPE"] * 4,
        (1.1, 0.1, 3.4028235e38, -1.17549435e-38),
    ),
    "double": (
        "2.2d, 1.7976931348623157E308d, 4.9E-324d, -0.0d",
        ["DOUBLE_TYPE"] * 4,
        (2.2, 1.7976931348623157e308, 5e-324, -0.0),
    ),
    "string": (
        "'abc', '', 'a\\tb\\nc', '  lead', 'trail  '",
        ["STRING_TYPE"] * 5,
        ("abc", "", "a\tb\nc", "  lead", "trail  "),
    ),
    "unicode": ("'😀', '中文', 'Grüße'", ["STRING_TYPE"] * 3, ("😀", "中文", "Grüße")),
    # Literal CHAR/VARCHAR casts are plain strings to Spark (column types only come from tables).
    "char_varchar_cast": (
        "cast('ab' as char(5)), cast('ab' as varchar(5))",
        ["STRING_TYPE"] * 2,
        ("ab", "ab"),
    ),
    "binary": ("X'00FF41', X''", ["BINARY_TYPE"] * 2, (b"\x00\xffA", b"")),
    "date": (
        "date'2024-01-02', date'1969-12-31', date'0001-01-01', date'9999-12-31'",
        ["DATE_TYPE"] * 4,
        ("2024-01-02", "1969-12-31", "0001-01-01", "9999-12-31"),
    ),
    "timestamp": (
        "timestamp'2024-01-02 03:04:05.123', timestamp'2024-01-02 03:04:05.123456', "
        "timestamp'2024-01-02 03:04:05', timestamp'1969-12-31 23:59:59.999999', "
        "timestamp'2024-02-29 00:00:00.000001'",
        ["TIMESTAMP_TYPE"] * 5,
        (
            TS(2024, 1, 2, 3, 4, 5, 123000),
            TS(2024, 1, 2, 3, 4, 5, 123456),
            TS(2024, 1, 2, 3, 4, 5),
            TS(1969, 12, 31, 23, 59, 59, 999999),
            TS(2024, 2, 29, 0, 0, 0, 1),
        ),
    ),
    "timestamp_ntz": (
        "timestamp_ntz'2024-01-02 03:04:05.5', timestamp_ntz'2024-01-02 03:04:05'",
        ["TIMESTAMP_TYPE"] * 2,
        (TS(2024, 1, 2, 3, 4, 5, 500000), TS(2024, 1, 2, 3, 4, 5)),
    ),
    # Interval texts (STS): 'y-m' and 'd hh:mm:ss.nnnnnnnnn'.
    "interval_year_month": (
        "interval '1-2' year to month, interval '-1-2' year to month, interval '10' month, "
        "interval 1 year",
        ["INTERVAL_YEAR_MONTH_TYPE"] * 4,
        ("1-2", "-1-2", "0-10", "1-0"),
    ),
    "interval_day_time": (
        "interval '1 02:03:04' day to second, interval '-1 02:03:04.5' day to second, "
        "interval '0 00:00:00.000001' day to second, interval 3 days, interval 100 hours",
        ["INTERVAL_DAY_TIME_TYPE"] * 5,
        (
            "1 02:03:04.000000000",
            "-1 02:03:04.500000000",
            "0 00:00:00.000001000",
            "3 00:00:00.000000000",
            "4 04:00:00.000000000",
        ),
    ),
    # Complex types as Spark's JSON-like text; strings inside are quoted but not escaped (STS).
    "array": (
        "array(1,2), array(), array(cast(null as int)), array('a\"b', 'c,d'), "
        "array(cast(1.1 as float), cast('NaN' as double)), array(true, false), "
        "array(date'2024-01-02', cast(null as date)), "
        "array(timestamp'2024-01-02 03:04:05.123'), array(cast(1.5 as decimal(10,2))), "
        "array(X'41')",
        ["ARRAY_TYPE"] * 10,
        (
            "[1,2]",
            "[]",
            "[null]",
            '["a"b","c,d"]',
            "[1.100000023841858,NaN]",
            "[true,false]",
            "[2024-01-02,null]",
            "[2024-01-02 03:04:05.123]",
            "[1.50]",
            "[A]",
        ),
    ),
    "map": (
        "map('k',1), map(), map('a', cast(null as string)), map(1, 'x'), map(true, 1), "
        "map('k\"', 'v\\\\')",
        ["MAP_TYPE"] * 6,
        ('{"k":1}', "{}", '{"a":null}', '{1:"x"}', "{true:1}", '{"k"":"v\\"}'),
    ),
    "struct": (
        "named_struct('a',1,'b','z'), named_struct('u', '中文😀'), "
        "struct(cast(1.1 as float) as f, 2.5d as d, interval '1-2' year to month as ym)",
        ["STRUCT_TYPE"] * 3,
        ('{"a":1,"b":"z"}', '{"u":"中文😀"}', '{"f":1.1,"d":2.5,"ym":1-2}'),
    ),
    "nested": (
        "array(named_struct('x',1,'y',cast(null as string))), map('m', array(1,2)), "
        "array(array(1,2), array(3)), map('a', array(1,2), 'b', array()), "
        "named_struct('s', named_struct('t', array(map('k', 1.5d))))",
        ["ARRAY_TYPE", "MAP_TYPE", "ARRAY_TYPE", "MAP_TYPE", "STRUCT_TYPE"],
        (
            '[{"x":1,"y":null}]',
            '{"m":[1,2]}',
            "[[1,2],[3]]",
            '{"a":[1,2],"b":[]}',
            '{"s":{"t":[{"k":1.5}]}}',
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(VALUE_CASES))
def test_values_of_each_type(hs2_target: HS2Target, cursor: hive.Cursor, case: str) -> None:
    select_list, types, expected = VALUE_CASES[case]
    rows = query(cursor, f"select {select_list}")
    assert column_types(cursor.description) == pyhive_types(hs2_target, types)
    assert rows == [expected]
    for value, want in zip(rows[0], expected, strict=True):
        assert type(value) is type(want), f"{value!r} is {type(value)}, want {type(want)}"


def test_description_tuples(cursor: hive.Cursor) -> None:
    cursor.execute("select 1 as i, 'x' as s, cast(1.5 as decimal(10,2)) as d")
    assert cursor.description == [
        ("i", "INT_TYPE", None, None, None, None, True),
        ("s", "STRING_TYPE", None, None, None, None, True),
        ("d", "DECIMAL_TYPE", None, None, None, None, True),
    ]
    assert cursor.fetchall() == [(1, "x", Decimal("1.50"))]


def test_decimals_keep_their_scale(cursor: hive.Cursor) -> None:
    rows = query(
        cursor,
        "select cast(1.5 as decimal(10,2)), cast(-12345678.9 as decimal(10,2)), "
        "cast(0 as decimal(10,2)), "
        "cast('12345678901234567890.123456789012345678' as decimal(38,18)), "
        "cast(99999999999999999999.999999999999999999 as decimal(38,18)), "
        "cast(-0.000000000000000001 as decimal(38,18)), cast(0 as decimal(38,18))",
    )
    assert column_types(cursor.description) == ["DECIMAL_TYPE"] * 7
    (row,) = rows
    assert [str(v) for v in row[:5]] == [
        "1.50",
        "-12345678.90",
        "0.00",
        "12345678901234567890.123456789012345678",
        "99999999999999999999.999999999999999999",
    ]
    # STS writes these two in scientific notation ('-1E-18', '0E-18'); the value and the scale
    # are what a user relies on.
    assert row[5] == Decimal("-0.000000000000000001")
    assert row[6] == 0
    assert [v.as_tuple().exponent for v in row] == [-2, -2, -2, -18, -18, -18, -18]


def test_nan_and_infinity(cursor: hive.Cursor) -> None:
    rows = query(
        cursor,
        "select cast('NaN' as double), cast('Infinity' as double), cast('-Infinity' as double), "
        "cast('NaN' as float), cast('Infinity' as float), cast('-Infinity' as float)",
    )
    assert column_types(cursor.description) == ["DOUBLE_TYPE"] * 3 + ["FLOAT_TYPE"] * 3
    (row,) = rows
    assert math.isnan(row[0]) and math.isnan(row[3])
    assert (row[1], row[2], row[4], row[5]) == (math.inf, -math.inf, math.inf, -math.inf)


NULL_TYPES = {
    "boolean": "BOOLEAN_TYPE",
    "tinyint": "TINYINT_TYPE",
    "smallint": "SMALLINT_TYPE",
    "int": "INT_TYPE",
    "bigint": "BIGINT_TYPE",
    "float": "FLOAT_TYPE",
    "double": "DOUBLE_TYPE",
    "decimal(10,2)": "DECIMAL_TYPE",
    "decimal(38,18)": "DECIMAL_TYPE",
    "string": "STRING_TYPE",
    "char(5)": "STRING_TYPE",
    "varchar(5)": "STRING_TYPE",
    "binary": "BINARY_TYPE",
    "date": "DATE_TYPE",
    "timestamp": "TIMESTAMP_TYPE",
    "timestamp_ntz": "TIMESTAMP_TYPE",
    "interval year to month": "INTERVAL_YEAR_MONTH_TYPE",
    "interval day to second": "INTERVAL_DAY_TIME_TYPE",
    "array<int>": "ARRAY_TYPE",
    "map<string,int>": "MAP_TYPE",
    "struct<a:int>": "STRUCT_TYPE",
    "void": "NULL_TYPE",
}


def test_nulls_of_every_type(hs2_target: HS2Target, cursor: hive.Cursor) -> None:
    select_list = ", ".join(f"cast(null as {t})" for t in NULL_TYPES)
    rows = query(cursor, f"select {select_list}")
    assert column_types(cursor.description) == pyhive_types(hs2_target, list(NULL_TYPES.values()))
    assert rows == [(None,) * len(NULL_TYPES)]
    # NULL only in the middle row, so a null bitmap off by one row shows up.
    rows = query(
        cursor,
        "select id, if(id = 1, null, id), if(id = 1, null, cast(id as string)), "
        "if(id = 1, null, date'2024-01-02'), if(id = 1, null, array(id)), "
        "if(id = 1, null, X'41'), if(id = 1, null, id = 0), if(id = 1, null, id / 2) "
        "from range(3) order by id",
    )
    assert rows == [
        (0, 0, "0", "2024-01-02", "[0]", b"A", True, 0.0),
        (1, None, None, None, None, None, None, None),
        (2, 2, "2", "2024-01-02", "[2]", b"A", False, 1.0),
    ]


def test_char_and_varchar_columns(cursor: hive.Cursor) -> None:
    table = unique_name("pyhive_chars")
    cursor.execute(f"create table {table} (c char(5), v varchar(5), s string) using parquet")
    try:
        cursor.execute(f"insert into {table} values ('ab', 'cd', 'ef'), (null, null, null)")
        rows = query(cursor, f"select c, v, s from {table} order by s nulls last")
        assert column_types(cursor.description) == ["CHAR_TYPE", "VARCHAR_TYPE", "STRING_TYPE"]
        # Spark pads CHAR(n) columns on read (STS: 'ab   ').
        assert rows == [("ab   ", "cd", "ef"), (None, None, None)]
    finally:
        cursor.execute(f"drop table {table}")


def test_one_megabyte_string(cursor: hive.Cursor) -> None:
    rows = query(cursor, "select repeat('ab', 524288) as s, length(repeat('ab', 524288)) as n")
    assert rows == [("ab" * 524288, 1048576)]


def test_hundred_thousand_rows(cursor: hive.Cursor) -> None:
    cursor.execute(
        "select id, concat('r', cast(id as string)) as s, if(id % 7 = 0, null, id * 0.5d) as d "
        "from range(100000)"
    )
    assert column_names(cursor.description) == ["id", "s", "d"]
    rows = cursor.fetchall()
    assert len(rows) == 100_000
    assert [r[0] for r in rows] == list(range(100_000))
    assert all(r[1] == f"r{r[0]}" for r in rows)
    assert sum(1 for r in rows if r[2] is None) == len(range(0, 100_000, 7))
    assert sum(r[2] for r in rows if r[2] is not None) == sum(
        i * 0.5 for i in range(100_000) if i % 7
    )


def test_fetchmany_in_batches(cursor: hive.Cursor) -> None:
    cursor.arraysize = 300
    cursor.execute("select id from range(1000)")
    seen: list[int] = []
    while batch := cursor.fetchmany(300):
        assert len(batch) <= 300
        seen.extend(r[0] for r in batch)
    assert seen == list(range(1000))
    assert cursor.fetchone() is None


def test_current_user_is_the_connecting_user(hs2_target: HS2Target) -> None:
    for user in (USER, "pyhive_other_user"):
        conn = pyhive_connect(hs2_target, username=user)
        try:
            cur = conn.cursor()
            assert query(cur, "select current_user()") == [(user,)]
        finally:
            conn.close()


@pytest.mark.target_has("nosasl")
def test_nosasl_connection(hs2_target: HS2Target) -> None:
    conn = pyhive_connect(hs2_target, auth="NOSASL", username="pyhive_nosasl")
    try:
        cur = conn.cursor()
        assert query(cur, "select 1, current_user()") == [(1, "pyhive_nosasl")]
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("sql", "error_class"),
    [
        ("select * from no_such_table_conformance", "TABLE_OR_VIEW_NOT_FOUND"),
        ("selec 1", "PARSE_SYNTAX_ERROR"),
        ("select no_such_column", "UNRESOLVED_COLUMN"),
    ],
)
def test_error_carries_spark_error_class(cursor: hive.Cursor, sql: str, error_class: str) -> None:
    with pytest.raises(exc.OperationalError) as info:
        cursor.execute(sql)
    assert f"[{error_class}" in str(info.value)
    # The connection and the cursor stay usable.
    assert query(cursor, "select 1") == [(1,)]


def test_runtime_error_in_async_query(cursor: hive.Cursor) -> None:
    cursor.execute("select assert_true(id < 0) from range(3)", async_=True)
    state = _poll_until_done(cursor)
    assert state == TOperationState.ERROR_STATE
    with pytest.raises(exc.Error):
        cursor.fetchall()
    assert query(cursor, "select 2") == [(2,)]


# --------------------------------------------------------------------------------------------------
# Statements (checklist 39)


def test_database_statements_and_dml(cursor: hive.Cursor) -> None:
    db = unique_name("pyhive_db")
    cursor.execute(f"create database {db}")
    try:
        schemas = query(cursor, "show schemas")
        assert column_names(cursor.description) == ["namespace"]
        assert {"default", db} <= {r[0] for r in schemas}

        cursor.execute(f"use {db}")
        assert query(cursor, "select current_database()") == [(db,)]
        assert column_names(cursor.description) == ["current_schema()"]

        cursor.execute("create table t1 (a int, b string, c decimal(10,2)) using parquet")
        cursor.execute("create table t2 (x bigint) using parquet")
        cursor.execute("insert into t1 values (1, 'one', 1.5), (2, null, null), (3, 'три', -2)")
        assert query(cursor, "select a, b, c from t1 order by a") == [
            (1, "one", Decimal("1.50")),
            (2, None, None),
            (3, "три", Decimal("-2.00")),
        ]
        assert query(cursor, f"select count(*), sum(a) from {db}.t1") == [(3, 6)]

        rows = query(cursor, "show tables")
        assert table_names_from_show_tables(cursor.description, rows) == ["t1", "t2"]

        rows = query(cursor, "describe t1")
        assert column_names(cursor.description) == ["col_name", "data_type", "comment"]
        assert rows == [
            ("a", "int", None),
            ("b", "string", None),
            ("c", "decimal(10,2)", None),
        ]
    finally:
        cursor.execute(f"drop database {db} cascade")
        cursor.execute("use default")


def test_set_statement(cursor: hive.Cursor) -> None:
    assert query(cursor, "set spark.sql.shuffle.partitions=7") == [
        ("spark.sql.shuffle.partitions", "7")
    ]
    assert column_names(cursor.description) == ["key", "value"]
    assert query(cursor, "set spark.sql.shuffle.partitions") == [
        ("spark.sql.shuffle.partitions", "7")
    ]


def test_session_state_is_per_connection(hs2_target: HS2Target) -> None:
    first = pyhive_connect(hs2_target)
    second = pyhive_connect(hs2_target)
    try:
        a, b = first.cursor(), second.cursor()
        a.execute("set spark.sql.shuffle.partitions=11")
        b.execute("set spark.sql.shuffle.partitions=13")
        assert query(a, "set spark.sql.shuffle.partitions") == [
            ("spark.sql.shuffle.partitions", "11")
        ]
    finally:
        first.close()
        second.close()


def test_connect_with_database_and_configuration(hs2_target: HS2Target) -> None:
    """pyhive's ``database`` (a ``USE`` after OpenSession) and JDBC-style OpenSession keys."""
    setup = pyhive_connect(hs2_target)
    db = unique_name("pyhive_conf")
    setup.cursor().execute(f"create database {db}")
    try:
        conn = pyhive_connect(
            hs2_target,
            database=db,
            configuration={
                "set:hiveconf:spark.sql.shuffle.partitions": "5",
                "set:hivevar:v1": "x1",
            },
        )
        try:
            cur = conn.cursor()
            assert query(cur, "select current_database()") == [(db,)]
            assert query(cur, "set spark.sql.shuffle.partitions") == [
                ("spark.sql.shuffle.partitions", "5")
            ]
            assert query(cur, "select '${v1}', '${hivevar:v1}'") == [("x1", "x1")]
        finally:
            conn.close()
    finally:
        setup.cursor().execute(f"drop database {db} cascade")
        setup.close()


# --------------------------------------------------------------------------------------------------
# Async execution, logs, cancel, close


def _poll_until_done(cursor: hive.Cursor, timeout_s: float = 60) -> int:
    """Poll like Superset does; returns the final state. PENDING would stop Superset's loop."""
    deadline = time.monotonic() + timeout_s
    seen: list[int] = []
    while time.monotonic() < deadline:
        state = cursor.poll().operationState
        seen.append(state)
        assert state != TOperationState.PENDING_STATE, f"PENDING reported to a poller: {seen}"
        if state not in (TOperationState.INITIALIZED_STATE, TOperationState.RUNNING_STATE):
            return int(state)
        time.sleep(0.1)
    raise TimeoutError(f"still running after {timeout_s} s: {seen}")


def test_async_execute_poll_fetch_logs(cursor: hive.Cursor) -> None:
    cursor.execute("select id, id * id as sq from range(5) order by id", async_=True)
    assert _poll_until_done(cursor) == TOperationState.FINISHED_STATE
    logs = cursor.fetch_logs()  # GetLog -> UNKNOWN_METHOD -> FetchResults(fetchType=1)
    assert isinstance(logs, list) and all(isinstance(line, str) for line in logs)
    assert cursor.fetchall() == [(0, 0), (1, 1), (2, 4), (3, 9), (4, 16)]
    assert column_names(cursor.description) == ["id", "sq"]
    # After the GetLog fallback the same connection still works.
    assert query(cursor, "select 'still usable'") == [("still usable",)]


def test_sync_fetch_logs_keeps_connection(cursor: hive.Cursor) -> None:
    assert query(cursor, "select 1") == [(1,)]
    assert all(isinstance(line, str) for line in cursor.fetch_logs())
    assert query(cursor, "select 2") == [(2,)]


def test_cancel_long_query(connection: hive.Connection) -> None:
    cursor = connection.cursor()
    # Two tasks sleeping 60 s hold both local[2] cores until they are really killed.
    cursor.execute(sleep_sql(60000, tasks=2), async_=True)
    time.sleep(1.5)
    started = time.monotonic()
    cursor.cancel()
    assert cursor.poll().operationState == TOperationState.CANCELED_STATE
    # The cores are free again: a real job finishes long before the sleeps would have ended.
    other = connection.cursor()
    assert query(other, "select sum(id) from range(0, 100000, 1, 2)") == [(4999950000,)]
    assert time.monotonic() - started < 20


def test_close_cursor_and_connection(hs2_target: HS2Target) -> None:
    conn = pyhive_connect(hs2_target)
    cur = conn.cursor()
    cur.execute("select id from range(3000)")
    assert len(cur.fetchmany(10)) == 10  # leave the rest unfetched
    cur.close()
    conn.close()
    # The server is fine with half-read, closed operations and sessions.
    again = pyhive_connect(hs2_target)
    try:
        assert query(again.cursor(), "select 3") == [(3,)]
    finally:
        again.close()
