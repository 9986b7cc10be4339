"""Engine sessions: OpenSession negotiation and configuration, isolation, users, errors, GetInfo.

All tests share the session-scoped ``engine`` (one real Spark engine) and open sessions of their
own; database and view names are unique per test so the tests do not see each other.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import pytest
from hs2 import Client, State, T, ok
from pyhive import hive

from kyuubi_py.protocol.tcli import V6, V10

pytestmark = [pytest.mark.spark, pytest.mark.timeout(180)]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def database(engine: Any) -> Any:
    name = unique("db")
    with Client(engine.host, engine.port) as client:
        ok(client.execute(f"CREATE DATABASE {name}"))
        yield name
        ok(client.execute(f"DROP DATABASE IF EXISTS {name} CASCADE"))


@pytest.mark.parametrize(("asked", "answered"), [(V10, V10), (V6, V6), (0xA501, V10)])
def test_open_session_negotiates_and_answers_configuration(
    engine: Any, asked: int, answered: int
) -> None:
    with Client(engine.host, engine.port, protocol=asked) as client:
        assert client.opened.serverProtocolVersion == answered
        assert client.opened.configuration == {
            "hive.server2.thrift.resultset.default.fetch.size": "1000"
        }


def test_open_session_configuration_is_applied(engine: Any, database: str) -> None:
    configuration = {
        "use:database": database,
        "set:hiveconf:spark.sql.shuffle.partitions": "3",
        "set:hivevar:table_name": "t1",
        "spark.sql.ansi.enabled": "false",
        "set:hiveconf:spark.driver.memory": "9g",  # a core conf: ignored, not fatal
        "hive.server2.proxy.user": "mallory",
    }
    with Client(engine.host, engine.port, configuration=configuration) as client:
        assert client.query("SELECT current_database()") == [(database,)]
        assert client.query("SET spark.sql.shuffle.partitions") == [
            ("spark.sql.shuffle.partitions", "3")
        ]
        assert client.query("SELECT '${table_name}', '${hivevar:table_name}'") == [("t1", "t1")]
        assert client.query("SELECT CAST('x' AS INT)") == [(None,)]  # ANSI off


def test_open_session_with_null_configuration(engine: Any) -> None:
    with Client(engine.host, engine.port, configuration=None) as client:
        assert client.query("SELECT current_database()") == [("default",)]


def test_open_session_with_missing_database_fails(engine: Any) -> None:
    with pytest.raises(AssertionError, match="Cannot use database no_such_db"):
        Client(engine.host, engine.port, configuration={"use:database": "no_such_db"})


def test_sessions_are_isolated(engine: Any, database: str) -> None:
    with Client(engine.host, engine.port) as first, Client(engine.host, engine.port) as second:
        ok(first.execute(f"USE {database}"))
        ok(first.execute("SET spark.sql.shuffle.partitions=7"))
        ok(first.execute("CREATE TEMPORARY VIEW private_view AS SELECT 1 AS x"))
        assert first.query("SELECT current_database()") == [(database,)]
        assert first.query("SELECT * FROM private_view") == [(1,)]
        assert second.query("SELECT current_database()") == [("default",)]
        assert second.query("SET spark.sql.shuffle.partitions") == [
            ("spark.sql.shuffle.partitions", "2")
        ]
        failed = second.execute("SELECT * FROM private_view")
        assert failed.status.statusCode == T.TStatusCode.ERROR_STATUS


def test_current_user_per_session_with_two_users(engine: Any) -> None:
    results: dict[str, list[Any]] = {}

    def run(user: str) -> None:
        connection = hive.connect(engine.host, engine.port, username=user)
        try:
            cursor = connection.cursor()
            for _ in range(3):
                cursor.execute("SELECT current_user(), session_user()")
                results.setdefault(user, []).extend(cursor.fetchall())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(u,)) for u in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results["alice"] == [("alice", "alice")] * 3
    assert results["bob"] == [("bob", "bob")] * 3


def test_errors_carry_spark_error_class_and_session_stays_usable(engine: Any) -> None:
    with Client(engine.host, engine.port) as client:
        missing = client.execute("SELECT * FROM no_such_table_xyz")
        assert missing.status.statusCode == T.TStatusCode.ERROR_STATUS
        assert missing.operationHandle is None
        assert missing.status.sqlState == "42P01"
        assert missing.status.errorMessage.startswith("Error running query: ")
        assert "[TABLE_OR_VIEW_NOT_FOUND]" in missing.status.errorMessage
        syntax = client.execute("SELEC 1")
        assert syntax.status.sqlState == "42601"
        assert "[PARSE_SYNTAX_ERROR]" in syntax.status.errorMessage
        op = ok(client.execute("SELECT * FROM no_such_table_xyz", run_async=True)).operationHandle
        status = client.wait(op)
        assert status.operationState == State.ERROR_STATE
        assert status.sqlState == "42P01" and status.errorCode == 0
        assert "[TABLE_OR_VIEW_NOT_FOUND]" in status.errorMessage
        fetch = client.fetch(op)
        assert fetch.status.statusCode == T.TStatusCode.ERROR_STATUS
        assert "Expected state FINISHED, but found ERROR" in fetch.status.errorMessage
        assert client.query("SELECT 1") == [(1,)]


def test_describe_missing_table_matches_pyhive_has_table(engine: Any) -> None:
    connection = hive.connect(engine.host, engine.port, username="alice")
    try:
        with pytest.raises(hive.OperationalError) as info:
            connection.cursor().execute("DESCRIBE default.no_such_table_xyz")
        regex = r"TExecuteStatementResp.*SemanticException.*Table not found {}"
        message = str(info.value.args[0])  # what SQLAlchemy wraps and pyhive matches
        assert re.search(regex.format(re.escape("default.no_such_table_xyz")), message)
    finally:
        connection.close()


def test_get_info(engine: Any) -> None:
    with Client(engine.host, engine.port, user="carol") as client:

        def info(kind: int) -> Any:
            return client.call(
                "GetInfo", T.TGetInfoReq(sessionHandle=client.session, infoType=kind)
            )

        assert ok(info(T.TGetInfoType.CLI_DBMS_NAME)).infoValue.stringValue == "Spark SQL"
        assert ok(info(T.TGetInfoType.CLI_SERVER_NAME)).infoValue.stringValue == "Spark SQL"
        assert ok(info(T.TGetInfoType.CLI_DBMS_VER)).infoValue.stringValue == "4.3.0"
        assert ok(info(T.TGetInfoType.CLI_USER_NAME)).infoValue.stringValue == "carol"
        keywords = ok(info(T.TGetInfoType.CLI_ODBC_KEYWORDS)).infoValue.stringValue
        assert "SELECT" in keywords.split(",")
        assert ok(info(T.TGetInfoType.CLI_MAX_TABLE_NAME_LEN)).infoValue.lenValue == 128
        unknown = info(4242)
        assert unknown.status.statusCode == T.TStatusCode.ERROR_STATUS
        assert unknown.infoValue is not None


def test_handles_of_other_users_and_closed_sessions_are_invalid(engine: Any) -> None:
    with (
        Client(engine.host, engine.port, user="alice") as alice,
        Client(engine.host, engine.port, user="bob") as bob,
    ):
        op = ok(alice.execute("SELECT 1")).operationHandle
        stolen = bob.call(
            "FetchResults", T.TFetchResultsReq(operationHandle=op, orientation=0, maxRows=10)
        )
        assert stolen.status.statusCode == T.TStatusCode.ERROR_STATUS
        assert stolen.status.errorMessage.startswith("Invalid OperationHandle: ")
        foreign = bob.call(
            "ExecuteStatement",
            T.TExecuteStatementReq(sessionHandle=alice.session, statement="SELECT 2"),
        )
        assert foreign.status.errorMessage.startswith("Invalid SessionHandle: ")
        assert alice.fetch_rows(op) == [(1,)]
    with Client(engine.host, engine.port, user="alice") as again:
        closed = again.call(
            "FetchResults", T.TFetchResultsReq(operationHandle=op, orientation=0, maxRows=10)
        )
        assert closed.status.errorMessage.startswith("Invalid OperationHandle: ")


def test_dropped_connection_closes_its_session(engine: Any) -> None:
    client = Client(engine.host, engine.port, user="dave")
    ok(client.execute("CREATE TEMPORARY VIEW dropped_view AS SELECT 1"))
    session = client.session
    client.conn.close()  # no CloseSession
    with Client(engine.host, engine.port, user="dave") as other:
        for _ in range(50):
            reply = other.call("GetInfo", T.TGetInfoReq(sessionHandle=session, infoType=17))
            if reply.status.statusCode == T.TStatusCode.ERROR_STATUS:
                break
            threading.Event().wait(0.1)
        assert reply.status.errorMessage.startswith("Invalid SessionHandle")
