"""Results the driver already holds (constants, VALUES, command output) are served without a
Spark job, and a client sees exactly what the Spark job would have answered."""

from __future__ import annotations

from typing import Any

import pytest
from hs2 import Client, ok

from kyuubi_py.protocol.tcli import V6

pytestmark = [pytest.mark.spark, pytest.mark.timeout(180)]

DRIVER_LOG = "on the driver (no Spark job)"
JOB_LOG = "Arrow batches"

#: Select lists covering every type family, special values and nulls, nested types and the
#: types Arrow cannot carry (rewritten to strings in Spark first).
SELECT_LISTS = [
    "1, 2147483648, CAST(7 AS TINYINT), CAST(-3 AS SMALLINT), true, CAST(NULL AS BOOLEAN)",
    "CAST(1.1 AS FLOAT), 0.1D, CAST('NaN' AS DOUBLE), CAST('-Infinity' AS DOUBLE), -0.0D, 1e300",
    "CAST(1.5 AS DECIMAL(5,2)), CAST('-12345678901234567890.0123456789' AS DECIMAL(38,10))",
    "'plain', 'ünïcødé ✓ 𝄞', '', 'tab\\tnew\\nline', CAST(NULL AS STRING), X'00FF10'",
    "DATE'2024-02-29', DATE'0001-01-01', TIMESTAMP'2024-01-02 03:04:05.123456'",
    "TIMESTAMP_NTZ'2024-01-02 03:04:05', CAST(NULL AS TIMESTAMP)",
    "INTERVAL '3 04:05:06.7' DAY TO SECOND, INTERVAL '2-3' YEAR TO MONTH",
    "array(1, NULL, 3), map('k', 1, 'n', NULL), named_struct('a', 1, 'b', array('x', NULL))",
    "array(named_struct('t', TIMESTAMP'2024-01-02 03:04:05', 'd', CAST(2.50 AS DECIMAL(4,2))))",
    "parse_json('{\"a\": [1, 2.5, null]}'), NULL",
    "current_database(), 1 AS a, 2 AS a",
]


@pytest.fixture(scope="module")
def client(engine: Any) -> Any:
    with Client(engine.host, engine.port) as client:
        yield client


Result = tuple[list[Any], list[Any], list[str]]


def run(client: Client, statement: str) -> Result:
    op = ok(client.execute(statement)).operationHandle
    return client.schema(op), client.fetch_all(op), client.logs(op)


def nan_as_text(rows: list[Any]) -> list[tuple[Any, ...]]:
    """``rows`` with NaN (unequal to itself) as a string, so equal results compare equal."""
    return [tuple("NaN" if v != v else v for v in row) for row in rows]


@pytest.mark.parametrize("select_list", SELECT_LISTS)
def test_constants_answer_as_the_spark_job_does(client: Client, select_list: str) -> None:
    schema, rows, logs = run(client, f"SELECT {select_list}")
    job_schema, job_rows, job_logs = run(client, f"SELECT {select_list} FROM range(1)")
    assert any(DRIVER_LOG in line for line in logs)
    assert any(JOB_LOG in line for line in job_logs)
    assert (schema, nan_as_text(rows)) == (job_schema, nan_as_text(job_rows))
    assert len(rows) == 1


def with_session_conf(
    client: Client, key: str, value: str, restore: str, statement: str
) -> tuple[Result, Result]:
    """``statement`` on the driver path, then ``FROM range(1)`` on the job path, while the
    session conf ``key`` is ``value``."""
    ok(client.execute(f"SET {key}={value}"))
    try:
        driver = run(client, statement)
        job = run(client, f"{statement} FROM range(1)")
    finally:
        ok(client.execute(f"SET {key}={restore}"))
    assert any(DRIVER_LOG in line for line in driver[2])
    return driver, job


def test_constants_in_the_session_time_zone(client: Client) -> None:
    statement = (
        "SELECT TIMESTAMP'2024-07-01 12:00:00 UTC', CAST(TIMESTAMP'2024-07-01 12:00' AS STRING)"
    )
    (_, rows, _), (_, job_rows, _) = with_session_conf(
        client, "spark.sql.session.timeZone", "America/Los_Angeles", "UTC", statement
    )
    assert rows == job_rows == [("2024-07-01 05:00:00", "2024-07-01 12:00:00")]


def test_constants_with_large_arrow_strings(client: Client) -> None:
    statement = "SELECT 'text', X'0A0B', array('a', NULL)"
    (schema, rows, _), (job_schema, job_rows, _) = with_session_conf(
        client, "spark.sql.execution.arrow.useLargeVarTypes", "true", "false", statement
    )
    assert (schema, rows) == (job_schema, job_rows)
    assert rows == [("text", b"\n\x0b", '["a",null]')]


def test_values_lists_and_their_projections(client: Client) -> None:
    values = "VALUES (1, 'a', array(1)), (2, NULL, array()), (3, 'c', NULL) AS v(n, s, xs)"
    schema, rows, logs = run(client, f"SELECT n * 10 AS n10, s, xs FROM {values} WHERE n > 1")
    assert any(DRIVER_LOG in line for line in logs)
    assert rows == [(20, None, "[]"), (30, "c", None)]
    job_schema, job_rows, _ = run(
        client, f"SELECT n * 10 AS n10, s, xs FROM {values}, range(1) WHERE n > 1"
    )
    assert (schema, rows) == (job_schema, job_rows)


def test_many_rows_span_batches(client: Client) -> None:
    values = ", ".join(f"({i}, 'row {i}')" for i in range(12_000))
    schema, rows, logs = run(client, f"SELECT * FROM VALUES {values}")
    assert any(DRIVER_LOG in line for line in logs)
    assert rows == [(i, f"row {i}") for i in range(12_000)]


def test_schema_probe_with_limit_0(client: Client) -> None:
    """BI tools read a query's columns with LIMIT 0; Spark proves it empty while planning."""
    schema, rows, logs = run(client, "SELECT id, CAST(id AS STRING) AS s FROM range(5) LIMIT 0")
    assert [name for name, _ in schema] == ["id", "s"]
    assert rows == [] and any(DRIVER_LOG in line for line in logs)


def test_command_output(client: Client) -> None:
    ok(client.execute("CREATE OR REPLACE TEMPORARY VIEW local_results_view AS SELECT 1 AS x"))
    schema, rows, logs = run(client, "DESCRIBE local_results_view")
    assert any(DRIVER_LOG in line for line in logs)
    assert rows == [("x", "int", None)]
    _, rows, logs = run(client, "SET spark.sql.shuffle.partitions")
    assert any(DRIVER_LOG in line for line in logs) and len(rows) == 1
    ok(client.execute("CREATE DATABASE IF NOT EXISTS local_results_empty"))
    try:
        _, rows, logs = run(client, "SHOW TABLES IN local_results_empty LIKE 'none_*'")
        assert rows == [] and any(DRIVER_LOG in line for line in logs)
    finally:
        ok(client.execute("DROP DATABASE local_results_empty"))


def test_show_tables_hive_layout(engine: Any) -> None:
    with Client(engine.host, engine.port, protocol=V6) as client:
        ok(client.execute("CREATE OR REPLACE TEMPORARY VIEW hive_layout_view AS SELECT 1 AS x"))
        schema, rows, logs = run(client, "SHOW TABLES")
        assert [name for name, _ in schema] == ["tab_name"]
        assert ("hive_layout_view",) in rows
        assert any(DRIVER_LOG in line for line in logs)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT rand(7)",  # nondeterministic: evaluated in its task, as Spark does
        "SELECT (SELECT max(id) FROM range(3))",  # a subquery
        "SELECT id FROM range(2)",
    ],
)
def test_other_plans_run_a_spark_job(client: Client, statement: str) -> None:
    logs = client.logs(ok(client.execute(statement)).operationHandle)
    assert any(JOB_LOG in line for line in logs)
    assert not any(DRIVER_LOG in line for line in logs)


def test_constant_errors_are_raised_as_spark_raises_them(client: Client) -> None:
    reply = client.execute("SELECT 1 / 0")
    assert "DIVIDE_BY_ZERO" in reply.status.errorMessage
    assert ok(client.execute("SELECT 2")).operationHandle  # the session goes on
