"""impyla 0.24 against the server under test: NOSASL (impyla's default) and SASL PLAIN.

impyla decodes columnar results only when the server negotiates exactly V6, knows type ids up to
19 (CHAR), and calls GetLog / CloseImpalaOperation, which must fail with UNKNOWN_METHOD for its
fallbacks to work. Expected values are Spark Thrift Server 4.3.0's as impyla shows them ("STS").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from clients import HS2Target, column_names, impyla_connect, unique_name
from impala.error import OperationalError

pytestmark = pytest.mark.timeout(120)

MECHANISMS = [
    pytest.param("NOSASL", marks=pytest.mark.target_has("nosasl"), id="NOSASL"),
    pytest.param("PLAIN", id="PLAIN"),
]


@pytest.fixture(params=MECHANISMS)
def mechanism(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connection(hs2_target: HS2Target, mechanism: str) -> Iterator[Any]:
    conn = impyla_connect(hs2_target, auth_mechanism=mechanism, user="impyla_user")
    yield conn
    conn.close()


@pytest.fixture
def cursor(connection: Any) -> Iterator[Any]:
    # Each impyla cursor is a session of its own; with NOSASL the session user is OpenSession's.
    cur = connection.cursor(user="impyla_user")
    yield cur
    cur.close()


def query(cur: Any, sql: str) -> list[tuple[Any, ...]]:
    cur.execute(sql)
    return [tuple(row) for row in cur.fetchall()]


def test_connect_ping_and_session_user(cursor: Any) -> None:
    assert cursor.ping() is True  # GetInfo(CLI_SERVER_NAME)
    assert query(cursor, "select current_user(), 1") == [("impyla_user", 1)]


def test_plain_session_user_is_the_sasl_identity(hs2_target: HS2Target) -> None:
    """impyla puts the OS login into OpenSession.username; the SASL user must win (item 14)."""
    conn = impyla_connect(hs2_target, auth_mechanism="PLAIN", user="impyla_sasl_identity")
    try:
        cur = conn.cursor()
        assert query(cur, "select current_user()") == [("impyla_sasl_identity",)]
        cur.close()
    finally:
        conn.close()


ALL_TYPES_SQL = (
    "select true as bo, cast(-128 as tinyint) as ti, cast(32767 as smallint) as si, "
    "2147483647 as i, 9223372036854775807 as bi, cast(1.1 as float) as f, 2.2d as d, "
    "cast(1.5 as decimal(10,2)) as dec, "
    "cast('12345678901234567890.123456789012345678' as decimal(38,18)) as dec38, "
    "'abc' as s, '' as e, '😀中文' as u, X'00FF41' as bin, date'2024-01-02' as dt, "
    "timestamp'2024-01-02 03:04:05.123' as ts, timestamp'2024-01-02 03:04:05.123456' as ts6, "
    "timestamp'2024-01-02 03:04:05' as ts0, timestamp_ntz'2024-01-02 03:04:05.5' as tsn, "
    "array(1,2) as arr, map('k',1) as m, named_struct('a',1,'b','z') as st, "
    "array(named_struct('x', 1)) as nested, cast('NaN' as double) as nan, "
    "cast('-Infinity' as float) as ninf"
)

# (name, impyla type code, precision, scale) of description rows.
ALL_TYPES_DESCRIPTION = [
    ("bo", "BOOLEAN", None, None),
    ("ti", "TINYINT", None, None),
    ("si", "SMALLINT", None, None),
    ("i", "INT", None, None),
    ("bi", "BIGINT", None, None),
    ("f", "FLOAT", None, None),
    ("d", "DOUBLE", None, None),
    ("dec", "DECIMAL", 10, 2),
    ("dec38", "DECIMAL", 38, 18),
    ("s", "STRING", None, None),
    ("e", "STRING", None, None),
    ("u", "STRING", None, None),
    ("bin", "BINARY", None, None),
    ("dt", "DATE", None, None),
    ("ts", "TIMESTAMP", None, None),
    ("ts6", "TIMESTAMP", None, None),
    ("ts0", "TIMESTAMP", None, None),
    ("tsn", "TIMESTAMP", None, None),
    ("arr", "ARRAY", None, None),
    ("m", "MAP", None, None),
    ("st", "STRUCT", None, None),
    ("nested", "ARRAY", None, None),
    ("nan", "DOUBLE", None, None),
    ("ninf", "FLOAT", None, None),
]

ALL_TYPES_ROW = (
    True,
    -128,
    32767,
    2147483647,
    9223372036854775807,
    1.1,
    2.2,
    Decimal("1.50"),
    Decimal("12345678901234567890.123456789012345678"),
    "abc",
    "",
    "😀中文",
    b"\x00\xffA",
    dt.date(2024, 1, 2),
    dt.datetime(2024, 1, 2, 3, 4, 5, 123000),
    dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
    dt.datetime(2024, 1, 2, 3, 4, 5),
    dt.datetime(2024, 1, 2, 3, 4, 5, 500000),
    # impyla leaves ARRAY values as bytes (its string-type list says "LIST", not "ARRAY").
    b"[1,2]",
    '{"k":1}',
    '{"a":1,"b":"z"}',
    b'[{"x":1}]',
)


def test_fetch_all_types(cursor: Any) -> None:
    rows = query(cursor, ALL_TYPES_SQL)
    assert [(d[0], d[1], d[4], d[5]) for d in cursor.description] == ALL_TYPES_DESCRIPTION
    (row,) = rows
    assert row[: len(ALL_TYPES_ROW)] == ALL_TYPES_ROW
    assert str(row[7]) == "1.50"
    assert math.isnan(row[-2]) and row[-1] == -math.inf


def test_nulls(cursor: Any) -> None:
    types = [
        ("void", "NULL"),
        ("boolean", "BOOLEAN"),
        ("int", "INT"),
        ("bigint", "BIGINT"),
        ("double", "DOUBLE"),
        ("decimal(38,18)", "DECIMAL"),
        ("string", "STRING"),
        ("binary", "BINARY"),
        ("date", "DATE"),
        ("timestamp", "TIMESTAMP"),
        ("array<int>", "ARRAY"),
        ("map<string,int>", "MAP"),
        ("struct<a:int>", "STRUCT"),
    ]
    select_list = ", ".join(f"if(id = 1, null, cast(null as {t}))" for t, _ in types)
    rows = query(cursor, f"select id, {select_list} from range(3) order by id")
    assert [d[1] for d in cursor.description] == ["BIGINT"] + [code for _, code in types]
    assert rows == [(i,) + (None,) * len(types) for i in range(3)]
    rows = query(cursor, "select if(id % 3 = 0, null, id) from range(10) order by id")
    assert [r[0] for r in rows] == [None, 1, 2, None, 4, 5, None, 7, 8, None]


@pytest.mark.target_has("intervals_below_v8_as_string")
def test_intervals_reach_v6_sessions_as_strings(cursor: Any) -> None:
    """impyla negotiates V6 and knows no type id above 19: intervals must arrive as STRING."""
    rows = query(
        cursor,
        "select interval '1-2' year to month as ym, interval '1 02:03:04' day to second as dt",
    )
    assert [d[1] for d in cursor.description] == ["STRING", "STRING"]
    assert rows == [("1-2", "1 02:03:04.000000000")]


def test_many_rows_across_fetch_batches(cursor: Any) -> None:
    rows = query(cursor, "select id, cast(id as string) from range(25000)")  # batches of 10240
    assert len(rows) == 25000
    assert sum(r[0] for r in rows) == sum(range(25000))
    assert all(r[1] == str(r[0]) for r in rows)


def test_error_then_cursor_still_usable(cursor: Any) -> None:
    with pytest.raises(OperationalError) as info:
        cursor.execute("select * from no_such_table_impyla")
    assert "TABLE_OR_VIEW_NOT_FOUND" in str(info.value)
    with pytest.raises(OperationalError) as info:
        cursor.execute("selec 1")
    assert "PARSE_SYNTAX_ERROR" in str(info.value)
    assert query(cursor, "select 42") == [(42,)]


def test_ddl_dml_and_cursor_close(connection: Any) -> None:
    """Statements without rows, a fetched query, get_log and close: every GetLog and
    CloseImpalaOperation on the way must come back as UNKNOWN_METHOD for impyla to go on."""
    cur = connection.cursor(user="impyla_user")
    table = unique_name("impyla_t")
    cur.execute(f"create table {table} (a int, s string) using parquet")
    cur.execute(f"insert into {table} values (1, 'x'), (2, null)")
    assert query(cur, f"select a, s from {table} order by a") == [(1, "x"), (2, None)]
    assert isinstance(cur.get_log(), str)
    cur.execute(f"drop table {table}")
    cur.close()
    # A cursor closed with an unfetched result set open.
    cur = connection.cursor(user="impyla_user")
    cur.execute("select id from range(100)")
    cur.close()


@pytest.mark.target_has("empty_batches_keep_columns")
def test_fetch_after_ddl_returns_no_rows(cursor: Any) -> None:
    """STS sends a row-less batch without columns here and impyla raises IndexError."""
    cursor.execute("create temporary view impyla_v as select 1 as a")
    if cursor.description is not None:
        assert cursor.fetchall() == []
    assert query(cursor, "select a from impyla_v where a < 0") == []


@pytest.fixture(scope="module")
def metadata_db(hs2_target: HS2Target) -> Iterator[str]:
    """A database with two tables for the metadata tests, made over PLAIN (every target)."""
    conn = impyla_connect(hs2_target, auth_mechanism="PLAIN")
    cur = conn.cursor()
    db = unique_name("impyla_db")
    cur.execute(f"create database {db}")
    cur.execute(
        f"create table {db}.t_all (b boolean, i int, bi bigint, d double, "
        "dec decimal(10,2), s string, c char(5), v varchar(5), bin binary, dt date, "
        "ts timestamp, arr array<int>, m map<string,int>, st struct<a:int,b:string>) "
        "using parquet"
    )
    cur.execute(f"create table {db}.t_other (x int) using parquet")
    yield db
    cur.execute(f"drop database {db} cascade")
    cur.close()
    conn.close()


def test_get_databases(cursor: Any, metadata_db: str) -> None:
    cursor.get_databases()  # GetSchemas(schemaName='.*')
    assert column_names(cursor.description) == ["TABLE_SCHEM", "TABLE_CATALOG"]
    databases = [tuple(r) for r in cursor.fetchall()]
    assert (metadata_db, "") in databases
    assert ("default", "") in databases
    assert cursor.database_exists(metadata_db) is True
    assert cursor.database_exists(metadata_db + "_missing") is False


def test_get_tables(cursor: Any, metadata_db: str) -> None:
    cursor.get_tables(metadata_db)  # GetTables(schemaName=db, tableName='.*')
    assert column_names(cursor.description) == [
        "TABLE_CAT",
        "TABLE_SCHEM",
        "TABLE_NAME",
        "TABLE_TYPE",
        "REMARKS",
        "TYPE_CAT",
        "TYPE_SCHEM",
        "TYPE_NAME",
        "SELF_REFERENCING_COL_NAME",
        "REF_GENERATION",
    ]
    assert sorted(tuple(r) for r in cursor.fetchall()) == [
        ("", metadata_db, "t_all", "TABLE", "", None, None, None, None, None),
        ("", metadata_db, "t_other", "TABLE", "", None, None, None, None, None),
    ]
    assert cursor.table_exists("t_other", metadata_db) is True
    assert cursor.table_exists("t_missing", metadata_db) is False


def test_get_table_schema(cursor: Any, metadata_db: str) -> None:
    # GetColumns(schema, table, columnName='.*'); TYPE_NAME as STS spells it.
    assert cursor.get_table_schema("t_all", metadata_db) == [
        ("b", "BOOLEAN"),
        ("i", "INT"),
        ("bi", "BIGINT"),
        ("d", "DOUBLE"),
        ("dec", "DECIMAL(10,2)"),
        ("s", "STRING"),
        ("c", "CHAR(5)"),
        ("v", "VARCHAR(5)"),
        ("bin", "BINARY"),
        ("dt", "DATE"),
        ("ts", "TIMESTAMP"),
        ("arr", "ARRAY<INT>"),
        ("m", "MAP<STRING, INT>"),
        ("st", "STRUCT<a: INT, b: STRING>"),
    ]


def test_table_column_types(cursor: Any, metadata_db: str) -> None:
    cursor.execute(f"select * from {metadata_db}.t_all")
    assert [d[1] for d in cursor.description] == [
        "BOOLEAN",
        "INT",
        "BIGINT",
        "DOUBLE",
        "DECIMAL",
        "STRING",
        "CHAR",
        "VARCHAR",
        "BINARY",
        "DATE",
        "TIMESTAMP",
        "ARRAY",
        "MAP",
        "STRUCT",
    ]
    assert cursor.fetchall() == []
