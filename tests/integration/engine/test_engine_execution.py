"""Engine statements: sync/async, long poll, cancel, query timeout, fetch orientations, logs,
incremental collect, empty-schema statements and result columns."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hs2 import Client, Orientation, State, T, ok, rows_of

from kyuubi_py.protocol.tcli import V6, V10

pytestmark = [pytest.mark.spark, pytest.mark.timeout(180)]

#: Runs for a day unless cancelled: one second per row. Thread.sleep answers the task interrupt
#: at once, so cancelled tasks free their cores (a CPU-bound generated loop, such as a count or a
#: hash over range(), checks for kills only between batches of up to 2^31 rows).
LONG_QUERY = (
    "SELECT max(r) FROM (SELECT reflect('java.lang.Thread', 'sleep', CAST(1000 AS BIGINT)) AS r"
    " FROM range(0, 100000, 1, 2))"
)


@pytest.fixture
def client(engine: Any) -> Any:
    with Client(engine.host, engine.port) as client:
        yield client


def test_sync_execute_returns_finished(client: Client) -> None:
    op = ok(client.execute("SELECT id, id * 2 AS twice FROM range(5)")).operationHandle
    assert op.hasResultSet
    status = client.status(op)
    assert status.operationState == State.FINISHED_STATE and status.hasResultSet
    assert status.operationStarted > 0 and status.operationCompleted >= status.operationStarted
    assert client.schema(op) == [("id", T.TTypeId.BIGINT_TYPE), ("twice", T.TTypeId.BIGINT_TYPE)]
    assert client.fetch_all(op) == [(i, 2 * i) for i in range(5)]


def test_async_execute_and_long_poll(client: Client) -> None:
    began = time.monotonic()
    op = ok(
        client.execute("SELECT sum(id) FROM range(0, 3000000, 1, 2)", run_async=True)
    ).operationHandle
    assert time.monotonic() - began < 2
    status = client.wait(op)
    assert status.operationState == State.FINISHED_STATE
    assert client.fetch_all(op) == [(sum(range(3000000)),)]


def test_cancel_long_query(client: Client) -> None:
    op = ok(client.execute(LONG_QUERY, run_async=True)).operationHandle
    time.sleep(2)  # let its Spark job start
    assert client.status(op).operationState == State.RUNNING_STATE
    began = time.monotonic()
    ok(client.cancel(op))
    status = client.status(op)
    assert status.operationState == State.CANCELED_STATE
    assert time.monotonic() - began < 5
    # The Spark job is gone: a new query gets the cores at once.
    began = time.monotonic()
    assert client.query("SELECT count(*) FROM range(1000)") == [(1000,)]
    assert time.monotonic() - began < 20
    ok(client.close_operation(op))
    closed = client.call("GetOperationStatus", T.TGetOperationStatusReq(operationHandle=op))
    assert closed.status.statusCode == T.TStatusCode.ERROR_STATUS
    assert closed.status.errorMessage.startswith("Invalid OperationHandle")


def test_cancel_before_the_job_starts(client: Client) -> None:
    """A job submitted just after CancelOperation is cancelled too (the progress monitor
    cancels the group again while the statement is still inside Spark)."""
    op = ok(client.execute(LONG_QUERY, run_async=True)).operationHandle
    ok(client.cancel(op))
    assert client.status(op).operationState == State.CANCELED_STATE
    time.sleep(3)  # planning finishes and the job would be running now
    began = time.monotonic()
    assert client.query("SELECT count(*) FROM range(1000)") == [(1000,)]
    assert time.monotonic() - began < 20


@pytest.mark.parametrize(
    ("protocol", "state"), [(V10, State.TIMEDOUT_STATE), (V6, State.ERROR_STATE)]
)
def test_query_timeout(engine: Any, protocol: int, state: int) -> None:
    with Client(engine.host, engine.port, protocol=protocol) as client:
        began = time.monotonic()
        op = ok(client.execute(LONG_QUERY, run_async=True, timeout_s=2)).operationHandle
        status = client.wait(op, timeout_s=30)
        assert status.operationState == state
        assert "timed out after 2 seconds" in status.errorMessage
        assert time.monotonic() - began < 15
        sync = client.execute(LONG_QUERY, timeout_s=1)
        assert sync.status.statusCode == T.TStatusCode.ERROR_STATUS
        assert "timed out" in sync.status.errorMessage
        assert client.query("SELECT 1") == [(1,)]


def test_fetch_orientations(client: Client) -> None:
    op = ok(client.execute("SELECT id FROM range(10)")).operationHandle
    assert client.fetch_rows(op, 4) == [(0,), (1,), (2,), (3,)]
    assert client.fetch_rows(op, 4) == [(4,), (5,), (6,), (7,)]
    assert client.fetch_rows(op, 4, Orientation.FETCH_PRIOR) == [(0,), (1,), (2,), (3,)]
    assert client.fetch_rows(op, 3, Orientation.FETCH_FIRST) == [(0,), (1,), (2,)]
    assert client.fetch_rows(op, 100) == [(i,) for i in range(3, 10)]
    end = ok(client.fetch(op, 100))
    assert rows_count(end.results) == 0 and end.hasMoreRows is False
    assert len(end.results.columns) == 1 and end.results.rows == []
    absolute = client.fetch(op, 10, Orientation.FETCH_ABSOLUTE)
    assert absolute.status.statusCode == T.TStatusCode.ERROR_STATUS
    assert absolute.status.errorMessage == (
        "The fetch type FETCH_ABSOLUTE is not supported for this resultset"
    )


def rows_count(rowset: T.TRowSet) -> int:
    return len(rows_of(rowset))


def test_row_based_results_below_v6(engine: Any) -> None:
    with Client(
        engine.host, engine.port, protocol=T.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V5
    ) as client:
        op = ok(client.execute("SELECT 1 AS a, 'x' AS b, CAST(NULL AS INT) AS c")).operationHandle
        rowset = ok(client.fetch(op)).results
        assert rowset.columns is None and len(rowset.rows) == 1
        assert client.fetch_rows(op, 10, Orientation.FETCH_FIRST) == [(1, "x", None)]


def test_operation_log(client: Client) -> None:
    op = ok(client.execute("SELECT count(*) FROM range(0, 1000000, 1, 2)")).operationHandle
    lines = client.logs(op)
    assert any("Execute in session" in line and "range(0, 1000000" in line for line in lines)
    assert any("RUNNING to FINISHED" in line for line in lines)
    assert client.logs(op) == []  # only new lines
    assert client.logs(op, Orientation.FETCH_FIRST) == lines  # re-read from the start
    log_reply = ok(client.fetch(op, 10, fetch_type=1))
    assert len(log_reply.results.columns) == 1


def test_job_progress_reaches_the_log(client: Client) -> None:
    op = ok(client.execute(LONG_QUERY, run_async=True)).operationHandle
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while not any("Spark job" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.5)
        lines += client.logs(op)
    client.cancel(op)
    assert any("Spark job" in line and "tasks done" in line for line in lines)


def test_incremental_collect(engine: Any) -> None:
    configuration = {"kyuubi.operation.incremental.collect": "true"}
    with Client(engine.host, engine.port, configuration=configuration) as client:
        op = ok(
            client.execute("SELECT id, CAST(id AS STRING) AS s FROM range(0, 25000, 1, 5)")
        ).operationHandle
        logs = client.logs(op)
        assert any("incremental collect" in line for line in logs)
        first = client.fetch_rows(op, 7000)
        assert len(first) == 7000 and first[0] == (0, "0")
        rest = client.fetch_all(op, 7000)
        assert [r[0] for r in first + rest] == list(range(25000))
        assert client.fetch_rows(op, 3, Orientation.FETCH_FIRST) == [(0, "0"), (1, "1"), (2, "2")]
        prior = client.fetch(op, 3, Orientation.FETCH_PRIOR)
        assert prior.status.statusCode == T.TStatusCode.ERROR_STATUS
        ok(client.execute("SET kyuubi.operation.incremental.collect=false"))
        assert len(client.query("SELECT id FROM range(0, 25000, 1, 5)")) == 25000


def test_statement_without_columns_has_result_string_schema(client: Client) -> None:
    op = ok(
        client.execute("CREATE TEMPORARY VIEW no_columns_view AS SELECT 1 AS x")
    ).operationHandle
    assert op.hasResultSet
    assert client.schema(op) == [("Result", T.TTypeId.STRING_TYPE)]
    assert client.fetch_all(op) == []


def test_show_tables_layout_by_protocol(engine: Any) -> None:
    for protocol, columns in ((V6, ["tab_name"]), (V10, ["namespace", "tableName", "isTemporary"])):
        with Client(engine.host, engine.port, protocol=protocol) as client:
            ok(client.execute("CREATE TEMPORARY VIEW layout_view AS SELECT 1 AS x"))
            op = ok(client.execute("SHOW TABLES")).operationHandle
            assert [name for name, _ in client.schema(op)] == columns
            assert "layout_view" in [
                row[0 if protocol == V6 else 1] for row in client.fetch_all(op)
            ]


def test_conf_overlay_and_set(client: Client) -> None:
    op = ok(
        client.execute(
            "SET spark.sql.shuffle.partitions", overlay={"spark.sql.shuffle.partitions": "5"}
        )
    ).operationHandle
    assert client.fetch_all(op) == [("spark.sql.shuffle.partitions", "5")]


def test_types_round_trip_as_sts(client: Client) -> None:
    rows = client.query(
        "SELECT CAST(1.5 AS DECIMAL(5,2)), DATE'2024-01-02', "
        "TIMESTAMP'2024-01-02 03:04:05.123', array(1,2), map('k',1), "
        "named_struct('a',1,'b','z'), CAST(NULL AS STRING), X'0102', true, CAST(1.1 AS FLOAT)"
    )
    assert rows == [
        (
            "1.50",
            "2024-01-02",
            "2024-01-02 03:04:05.123",
            "[1,2]",
            '{"k":1}',
            '{"a":1,"b":"z"}',
            None,
            b"\x01\x02",
            True,
            1.1,
        )
    ]


def test_num_modified_rows_of_insert(client: Client) -> None:
    table = f"inserted_{int(time.time() * 1000)}"
    ok(client.execute(f"CREATE TABLE {table} (a INT) USING parquet"))
    try:
        op = ok(client.execute(f"INSERT INTO {table} SELECT id FROM range(7)")).operationHandle
        assert client.status(op).numModifiedRows == 7
        select = ok(client.execute(f"SELECT * FROM {table}")).operationHandle
        assert client.status(select).numModifiedRows is None
    finally:
        ok(client.execute(f"DROP TABLE {table}"))
