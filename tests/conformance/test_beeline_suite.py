"""beeline 2.3.10 and the Hive JDBC driver (both from the pyspark wheel) against the server under
test. Each beeline run costs a JVM start (~2 s), so every test batches its statements.

Expected texts are what beeline prints against Spark Thrift Server 4.3.0 ("STS").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clients import SPARK_VERSION, USER, HS2Target, beeline, pyhive_connect, unique_name

pytestmark = pytest.mark.timeout(180)

URL_SUFFIXES = [
    pytest.param("", id="sasl"),
    pytest.param(";auth=noSasl", marks=pytest.mark.target_has("nosasl"), id="nosasl"),
]


@pytest.mark.parametrize("suffix", URL_SUFFIXES)
def test_connect_banner_and_values(hs2_target: HS2Target, suffix: str) -> None:
    result = beeline(
        hs2_target.jdbc_url(suffix=suffix),
        statements=(
            "select 1 as i, cast(9223372036854775807 as bigint) as bi, 'x,y' as s, "
            "cast(1.5 as decimal(10,2)) as dec, cast(1.1 as float) as f, 2.5d as d, "
            "true as bo, cast(null as int) as n, X'41' as bin, date'2024-01-02' as dt, "
            "timestamp'2024-01-02 03:04:05.123' as ts, array(1,2) as arr, map('k',1) as m, "
            "named_struct('a',1,'b','z') as st, interval '1-2' year to month as ym, "
            "interval '1 02:03:04' day to second as dts, '中文😀' as u;"
            "select current_user() as u, current_database() as db;"
        ),
        silent=False,
    )
    assert result.returncode == 0, result.stderr
    # GetInfo(CLI_DBMS_NAME) and GetInfo(CLI_DBMS_VER) make this banner.
    assert f"Connected to: Spark SQL (version {SPARK_VERSION})" in result.stderr
    assert "Driver: Hive JDBC (version 2.3.10)" in result.stderr
    assert result.rows() == [
        [
            "i",
            "bi",
            "s",
            "dec",
            "f",
            "d",
            "bo",
            "n",
            "bin",
            "dt",
            "ts",
            "arr",
            "m",
            "st",
            "ym",
            "dts",
            "u",
        ],
        [
            "1",
            "9223372036854775807",
            "x,y",
            "1.50",
            "1.1",
            "2.5",
            "true",
            "NULL",
            "A",
            "2024-01-02",
            "2024-01-02 03:04:05.123",
            "[1,2]",
            '{"k":1}',
            '{"a":1,"b":"z"}',
            "1-2",
            "1 02:03:04.000000000",
            "中文😀",
        ],
        ["u", "db"],
        [USER, "default"],
    ]


def test_tables_and_columns_commands(hs2_target: HS2Target, tmp_path: Path) -> None:
    db = unique_name("beeline_db")
    table = unique_name("beeline_t")
    script = tmp_path / "meta.sql"
    script.write_text(
        f"create database {db};\n"
        f"create table {db}.{table} (a int, b string, c decimal(10,2), d char(5)) "
        "using parquet;\n"
        "!tables\n"
        f"!columns {table}\n"
        f"drop database {db} cascade;\n"
    )
    result = beeline(hs2_target.jdbc_url(), script=script)
    rows = result.rows()
    # !tables -> GetTables(null, '%', '%', null): TABLE_CAT .. REF_GENERATION.
    assert [r for r in rows if len(r) == 10 and r[1] == db] == [
        ["", db, table, "TABLE", "", "NULL", "NULL", "NULL", "NULL", "NULL"]
    ], result.stderr
    # !columns -> GetColumns('', null, table, '%'): 23 columns; values as STS sends them.
    columns = [r for r in rows if len(r) == 23 and r[2] == table]
    assert columns, result.stderr
    assert [(r[3], r[4], r[5], r[6], r[8], r[9], r[16], r[17]) for r in columns] == [
        # COLUMN_NAME, DATA_TYPE (java.sql.Types), TYPE_NAME, COLUMN_SIZE (Spark's defaultSize
        # for numbers, STS), DECIMAL_DIGITS, NUM_PREC_RADIX, ORDINAL_POSITION, IS_NULLABLE
        ("a", "4", "INT", "4", "0", "10", "1", "YES"),
        ("b", "12", "STRING", "NULL", "NULL", "NULL", "2", "YES"),
        ("c", "3", "DECIMAL(10,2)", "8", "2", "10", "3", "YES"),
        ("d", "1", "CHAR(5)", "5", "NULL", "NULL", "4", "YES"),
    ]
    assert all(r[1] == db for r in columns)
    assert result.returncode == 0, result.stderr


def test_failing_query_shows_server_message(hs2_target: HS2Target) -> None:
    result = beeline(
        hs2_target.jdbc_url(),
        statements="select 'before' as b; select * from no_such_table_beeline; select 'after';",
    )
    assert result.returncode != 0
    assert result.rows() == [["b"], ["before"]]  # beeline stops at the first error
    assert "Error: " in result.stderr
    assert "[TABLE_OR_VIEW_NOT_FOUND]" in result.stderr
    assert "no_such_table_beeline" in result.stderr
    assert "state=42P01" in result.stderr  # the server's sqlState reaches JDBC


def test_hiveconf_and_hivevar_in_url(hs2_target: HS2Target) -> None:
    result = beeline(
        hs2_target.jdbc_url(suffix="?spark.sql.shuffle.partitions=3#v1=x1;v2=y2"),
        statements="select '${v1}' as v, '${hivevar:v2}' as w; set spark.sql.shuffle.partitions;",
    )
    assert result.returncode == 0, result.stderr
    assert result.rows() == [
        ["v", "w"],
        ["x1", "y2"],
        ["key", "value"],
        ["spark.sql.shuffle.partitions", "3"],
    ]


def test_database_in_url_and_ddl(hs2_target: HS2Target) -> None:
    db = unique_name("beeline_use")
    setup = pyhive_connect(hs2_target)
    setup.cursor().execute(f"create database {db}")
    try:
        result = beeline(
            hs2_target.jdbc_url(database=db),
            statements=(
                "select current_database() as db;"
                "create table t (a int, s string) using parquet;"
                "insert into t values (1, 'a'), (2, null);"
                "select a, s from t order by a;"
            ),
        )
        assert result.returncode == 0, result.stderr
        rows = result.rows()
        assert rows[:2] == [["db"], [db]]
        assert rows[-3:] == [["a", "s"], ["1", "a"], ["2", "NULL"]]
    finally:
        setup.cursor().execute(f"drop database {db} cascade")
        setup.close()
