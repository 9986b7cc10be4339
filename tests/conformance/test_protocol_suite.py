"""Raw TCLIService checks with the generated code (``kyuubi_py.protocol.tcli``), over SASL PLAIN
(thrift_sasl + pure-sasl) and NOSASL (unframed TBufferedTransport), plus bad input on raw
sockets. Numbers in brackets are hs2-protocol.md §5 checklist items; expected values not given
by the checklist are Spark Thrift Server 4.3.0's ("STS").
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from clients import (
    SPARK_VERSION,
    Heartbeat,
    HS2Target,
    RawClient,
    assert_required_fields,
    assert_success,
    column_values,
    decode_nulls,
    raw_socket,
    read_until_closed,
    recv_exact,
    sasl_message,
    sasl_plain_handshake,
    sleep_sql,
)
from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport import TTransport
from thrift.transport.TTransport import TTransportException

from kyuubi_py.protocol.tcli import TCLIService, ttypes

pytestmark = pytest.mark.timeout(120)

V = ttypes.TProtocolVersion
STATE = ttypes.TOperationState
ORIENT = ttypes.TFetchOrientation
TYPE = ttypes.TTypeId
ERROR_CODES = (ttypes.TStatusCode.ERROR_STATUS, ttypes.TStatusCode.INVALID_HANDLE_STATUS)

TRANSPORTS = [
    pytest.param(True, id="sasl"),
    pytest.param(False, marks=pytest.mark.target_has("nosasl"), id="nosasl"),
]


@pytest.fixture(params=TRANSPORTS)
def client(hs2_target: HS2Target, request: pytest.FixtureRequest) -> Iterator[RawClient]:
    with RawClient(hs2_target, sasl=request.param) as raw:
        yield raw


@pytest.fixture
def sasl_client(hs2_target: HS2Target) -> Iterator[RawClient]:
    with RawClient(hs2_target) as raw:
        yield raw


def fetch_columns(raw: RawClient, op: ttypes.TOperationHandle, **kw: Any) -> list[list[Any]]:
    resp = raw.fetch(op, **kw)
    assert_success(resp.status)
    assert resp.results.rows == []
    return [column_values(c)[0] for c in resp.results.columns]


def schema_of(raw: RawClient, op: ttypes.TOperationHandle) -> list[ttypes.TColumnDesc]:
    resp = raw.client.GetResultSetMetadata(ttypes.TGetResultSetMetadataReq(op))
    assert_success(resp.status)
    return list(resp.schema.columns)


def type_ids(raw: RawClient, op: ttypes.TOperationHandle) -> list[int]:
    return [c.typeDesc.types[0].primitiveEntry.type for c in schema_of(raw, op)]


def assert_error(status: ttypes.TStatus) -> None:
    assert status.statusCode in ERROR_CODES, f"expected an error status, got {status}"
    assert status.errorMessage, f"error status without a message: {status}"


def assert_select_one_works(raw: RawClient, session: ttypes.TSessionHandle) -> None:
    op = raw.execute(session, "select 1")
    assert fetch_columns(raw, op) == [[1]]


# --------------------------------------------------------------------------------------------------
# Session


@pytest.mark.parametrize(
    "client_version",
    [
        pytest.param(V.HIVE_CLI_SERVICE_PROTOCOL_V1, id="V1"),
        pytest.param(V.HIVE_CLI_SERVICE_PROTOCOL_V6, id="V6"),
        pytest.param(V.HIVE_CLI_SERVICE_PROTOCOL_V10, id="V10"),
        pytest.param(V.HIVE_CLI_SERVICE_PROTOCOL_V11, id="V11"),
        pytest.param(
            0xA501, marks=pytest.mark.target_has("unknown_protocol_versions"), id="0xA501"
        ),
    ],
)
def test_negotiated_protocol_version(
    hs2_target: HS2Target, client: RawClient, client_version: int
) -> None:
    """[11, 12] min(client, server max); kyuubi_py's max is V10 (JDBC 2.3 rejects V11)."""
    resp = client.open_session(client_version)
    assert_required_fields(resp)
    negotiated = min(client_version, hs2_target.max_protocol)
    assert resp.serverProtocolVersion == negotiated
    assert isinstance(resp.configuration, dict)
    handle = resp.sessionHandle.sessionId
    assert (len(handle.guid), len(handle.secret)) == (16, 16)
    fetched = client.fetch(client.execute(resp.sessionHandle, "select 1"))
    assert_success(fetched.status)
    if negotiated < V.HIVE_CLI_SERVICE_PROTOCOL_V6:
        assert [[v.i32Val.value for v in row.colVals] for row in fetched.results.rows] == [[1]]
    else:
        assert [column_values(c)[0] for c in fetched.results.columns] == [[1]]


def open_session_message(seqid: int) -> bytes:
    buf = TTransport.TMemoryBuffer()
    proto = TBinaryProtocol.TBinaryProtocol(buf)
    proto.writeMessageBegin("OpenSession", TMessageType.CALL, seqid)
    req = ttypes.TOpenSessionReq(client_protocol=V.HIVE_CLI_SERVICE_PROTOCOL_V10)
    TCLIService.OpenSession_args(req=req).write(proto)
    proto.writeMessageEnd()
    return bytes(buf.getvalue())


def read_open_session_reply(body: bytes) -> tuple[str, int, int, ttypes.TOpenSessionResp]:
    proto = TBinaryProtocol.TBinaryProtocol(TTransport.TMemoryBuffer(body))
    name, mtype, seqid = proto.readMessageBegin()
    result = TCLIService.OpenSession_result()
    result.read(proto)
    return name, mtype, seqid, result.success


@pytest.mark.parametrize(
    ("initial_status", "seqid"),
    [(2, 0), (5, 1), (5, 2**31 - 1)],
    ids=["thrift_sasl-OK", "jdbc-COMPLETE", "max-seqid"],
)
def test_sasl_plain_bytes_and_framing(
    hs2_target: HS2Target, initial_status: int, seqid: int
) -> None:
    """[1, 4] START + initial response with status OK (thrift_sasl) or COMPLETE (JDBC) gets
    exactly ``05 00000000``; then 4-byte length frames both ways; the reply echoes the method
    name and seqid (JDBC counts 1, 2, 3...)."""
    with raw_socket(hs2_target) as sock:
        sock.sendall(
            sasl_message(1, b"PLAIN") + sasl_message(initial_status, b"\0raw_user\0secret")
        )
        assert recv_exact(sock, 5) == b"\x05\x00\x00\x00\x00"
        message = open_session_message(seqid)
        sock.sendall(struct.pack(">I", len(message)) + message)
        (length,) = struct.unpack(">I", recv_exact(sock, 4))
        name, mtype, rseqid, resp = read_open_session_reply(recv_exact(sock, length))
    assert (name, mtype, rseqid) == ("OpenSession", TMessageType.REPLY, seqid)
    assert_success(resp.status)
    assert resp.serverProtocolVersion == V.HIVE_CLI_SERVICE_PROTOCOL_V10


@pytest.mark.target_has("nosasl")
def test_nosasl_bytes_unframed(hs2_target: HS2Target) -> None:
    """[3, 4] a first byte 0x80 is a bare strict-binary message; the reply is unframed too."""
    with raw_socket(hs2_target) as sock:
        sock.sendall(open_session_message(5))
        reader = TBinaryProtocol.TBinaryProtocol(
            TTransport.TFileObjectTransport(sock.makefile("rb")), strictRead=True
        )
        name, mtype, rseqid = reader.readMessageBegin()
        result = TCLIService.OpenSession_result()
        result.read(reader)
    assert (name, mtype, rseqid) == ("OpenSession", TMessageType.REPLY, 5)
    assert_success(result.success.status)


@pytest.mark.parametrize(
    "configuration",
    [
        None,
        {},
        {
            "use:database": "default",
            "set:hiveconf:hive.server2.thrift.resultset.default.fetch.size": "1000",
            "set:hiveconf:kyuubi_py.conformance.key": "3",
            "set:hivevar:v1": "x1",
        },
    ],
    ids=["null", "empty", "jdbc"],
)
def test_open_session_configuration(
    sasl_client: RawClient, configuration: dict[str, str] | None
) -> None:
    """[12, 13] the reply always carries a configuration map; JDBC keys are applied."""
    resp = sasl_client.open_session(V.HIVE_CLI_SERVICE_PROTOCOL_V10, configuration=configuration)
    assert isinstance(resp.configuration, dict)
    session = resp.sessionHandle
    op = sasl_client.execute(session, "select current_database(), '${v1}'")
    expected_var = "x1" if configuration else ""  # an undefined variable is empty (STS)
    assert fetch_columns(sasl_client, op) == [["default"], [expected_var]]
    op = sasl_client.execute(session, "set kyuubi_py.conformance.key")
    value = "3" if configuration else "<undefined>"
    assert fetch_columns(sasl_client, op) == [["kyuubi_py.conformance.key"], [value]]


def test_getinfo_server_identity(sasl_client: RawClient) -> None:
    """[16] what beeline prints and BI drivers check."""
    session = sasl_client.session()
    expected = {
        ttypes.TGetInfoType.CLI_SERVER_NAME: "Spark SQL",
        ttypes.TGetInfoType.CLI_DBMS_NAME: "Spark SQL",
        ttypes.TGetInfoType.CLI_DBMS_VER: SPARK_VERSION,
    }
    for info_type, value in expected.items():
        resp = sasl_client.client.GetInfo(ttypes.TGetInfoReq(session, info_type))
        assert_success(resp.status)
        assert resp.infoValue.stringValue == value
    resp = sasl_client.client.GetInfo(
        ttypes.TGetInfoReq(session, ttypes.TGetInfoType.CLI_ODBC_KEYWORDS)
    )
    assert_success(resp.status)
    assert {"SELECT", "FROM", "WHERE"} <= set(resp.infoValue.stringValue.split(","))


@pytest.mark.target_has("getinfo_all")
def test_getinfo_every_type(sasl_client: RawClient) -> None:
    """[16] every TGetInfoType gets SUCCESS and exactly one value on the same connection (STS
    drops the connection for most of them)."""
    session = sasl_client.session()
    for info_type, name in sorted(ttypes.TGetInfoType._VALUES_TO_NAMES.items()):
        resp = sasl_client.client.GetInfo(ttypes.TGetInfoReq(session, info_type))
        assert_success(resp.status)
        assert_required_fields(resp)
        values = [v for v in vars(resp.infoValue).values() if v is not None]
        assert len(values) == 1, f"{name}: {resp.infoValue}"
    for info_type in (
        ttypes.TGetInfoType.CLI_MAX_COLUMN_NAME_LEN,
        ttypes.TGetInfoType.CLI_MAX_SCHEMA_NAME_LEN,
        ttypes.TGetInfoType.CLI_MAX_TABLE_NAME_LEN,
    ):
        resp = sasl_client.client.GetInfo(ttypes.TGetInfoReq(session, info_type))
        assert resp.infoValue.lenValue == 128


def test_close_session_invalidates_it(sasl_client: RawClient) -> None:
    """[17] operations of a closed session are gone, and so is the session."""
    session = sasl_client.session()
    op = sasl_client.execute(session, "select 1")
    resp = sasl_client.client.CloseSession(ttypes.TCloseSessionReq(session))
    assert_success(resp.status)
    assert_error(sasl_client.fetch(op).status)
    resp = sasl_client.client.ExecuteStatement(ttypes.TExecuteStatementReq(session, "select 1"))
    assert_error(resp.status)
    assert resp.operationHandle is None
    assert_select_one_works(sasl_client, sasl_client.session())


# --------------------------------------------------------------------------------------------------
# Unknown methods and handles


@pytest.mark.parametrize("method", ["GetLog", "CloseImpalaOperation", "NoSuchMethod"])
def test_unknown_method_keeps_connection(client: RawClient, method: str) -> None:
    """[5] UNKNOWN_METHOD even with non-UTF-8 GUID bytes in the args; the connection survives."""
    session = client.session(V.HIVE_CLI_SERVICE_PROTOCOL_V6)
    op = client.execute(session, "select 'kept'")
    binary = ttypes.TOperationHandle(
        ttypes.THandleIdentifier(b"\xff\xfe\x80" * 5 + b"\x00", b"\xc3\x28" * 8),
        ttypes.TOperationType.EXECUTE_STATEMENT,
        True,
    )
    for handle in (op, binary):
        reply = client.call_with_handle(method, handle)
        assert isinstance(reply, TApplicationException), reply
        assert reply.type == TApplicationException.UNKNOWN_METHOD
    assert fetch_columns(client, op) == [["kept"]]


def test_unknown_and_closed_handles_get_error_status(sasl_client: RawClient) -> None:
    session = sasl_client.session()
    bogus = ttypes.TOperationHandle(
        ttypes.THandleIdentifier(b"\x01" * 16, b"\x02" * 16),
        ttypes.TOperationType.EXECUTE_STATEMENT,
        True,
    )
    closed = sasl_client.execute(session, "select 1")
    sasl_client.client.CloseOperation(ttypes.TCloseOperationReq(closed))
    for op in (bogus, closed):
        for resp in (
            sasl_client.fetch(op),
            sasl_client.client.GetOperationStatus(ttypes.TGetOperationStatusReq(op)),
            sasl_client.client.GetResultSetMetadata(ttypes.TGetResultSetMetadataReq(op)),
            sasl_client.client.CancelOperation(ttypes.TCancelOperationReq(op)),
        ):
            assert_error(resp.status)
            assert_required_fields(resp)
    bogus_session = ttypes.TSessionHandle(ttypes.THandleIdentifier(b"\x03" * 16, b"\x04" * 16))
    resp = sasl_client.client.ExecuteStatement(
        ttypes.TExecuteStatementReq(bogus_session, "select 1")
    )
    assert_error(resp.status)
    assert_select_one_works(sasl_client, session)


# --------------------------------------------------------------------------------------------------
# Execution


def test_sync_error_status(sasl_client: RawClient) -> None:
    """[18] runAsync=false: the error comes back from ExecuteStatement, without a handle."""
    session = sasl_client.session()
    resp = sasl_client.client.ExecuteStatement(
        ttypes.TExecuteStatementReq(session, "select * from no_such_table_protocol")
    )
    assert_required_fields(resp)
    assert resp.status.statusCode == ttypes.TStatusCode.ERROR_STATUS
    assert "TABLE_OR_VIEW_NOT_FOUND" in resp.status.errorMessage
    assert resp.status.sqlState == "42P01"
    assert resp.operationHandle is None
    assert_select_one_works(sasl_client, session)


def test_async_error_state(sasl_client: RawClient) -> None:
    """[19] runAsync=true: the failure shows in GetOperationStatus; fetching it is an error."""
    session = sasl_client.session()
    op = sasl_client.execute(session, "select * from no_such_table_protocol", run_async=True)
    final = sasl_client.wait_finished(op)[-1]
    assert_required_fields(final)
    assert final.operationState == STATE.ERROR_STATE
    assert "TABLE_OR_VIEW_NOT_FOUND" in final.errorMessage
    assert final.sqlState == "42P01"
    assert_error(sasl_client.fetch(op).status)


def test_async_states_running_then_finished(sasl_client: RawClient) -> None:
    """[19, 20] ExecuteStatement returns at once; a poller sees RUNNING, then FINISHED, never
    PENDING; GetOperationStatus long-polls, so a loop without sleeps (JDBC's) does not spin."""
    session = sasl_client.session()
    started = time.monotonic()
    op = sasl_client.execute(
        session,
        sleep_sql(6500),
        run_async=True,
    )
    assert time.monotonic() - started < 3
    states: list[int] = []
    while not states or states[-1] not in (STATE.FINISHED_STATE, STATE.ERROR_STATE):
        assert time.monotonic() - started < 60, states
        resp = sasl_client.client.GetOperationStatus(ttypes.TGetOperationStatusReq(op, True))
        assert_success(resp.status)
        assert_required_fields(resp)
        states.append(resp.operationState)
    assert states[-1] == STATE.FINISHED_STATE
    assert STATE.RUNNING_STATE in states
    assert set(states) <= {STATE.RUNNING_STATE, STATE.FINISHED_STATE}, states
    assert len(states) < 50, f"{len(states)} status calls in 6.5 s: no long poll"
    assert fetch_columns(sasl_client, op) == [["null"]]  # reflect() of a void method (STS)


@pytest.mark.target_has("status_has_result_set")
def test_status_has_result_set(sasl_client: RawClient) -> None:
    """[21] GetOperationStatus.hasResultSet agrees with the handle."""
    session = sasl_client.session()
    op = sasl_client.execute(session, "select 1", run_async=True)
    final = sasl_client.wait_finished(op)[-1]
    assert final.hasResultSet is True
    assert final.hasResultSet == op.hasResultSet


def test_fetch_while_running_never_returns_an_empty_batch(sasl_client: RawClient) -> None:
    """[22] FetchResults on a running op blocks until it is done or answers an error (STS:
    "Expected state FINISHED, but found RUNNING"); never an empty batch that would read as
    end-of-data."""
    session = sasl_client.session()
    op = sasl_client.execute(session, sleep_sql(3000), run_async=True)
    early = sasl_client.fetch(op)
    if early.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS:
        assert [column_values(c)[0] for c in early.results.columns] == [["null"]]
    else:
        assert_error(early.status)
        assert sasl_client.wait_finished(op)[-1].operationState == STATE.FINISHED_STATE
        assert fetch_columns(sasl_client, op) == [["null"]]


@pytest.mark.target_has("schema_while_running")
def test_result_schema_while_running(sasl_client: RawClient) -> None:
    """[22] GetResultSetMetadata on a running op answers the real schema (blocking if need be)
    or an error; STS answers a placeholder 'Result' column."""
    session = sasl_client.session()
    op = sasl_client.execute(session, sleep_sql(3000), run_async=True)
    meta = sasl_client.client.GetResultSetMetadata(ttypes.TGetResultSetMetadataReq(op))
    if meta.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS:
        assert [c.columnName for c in meta.schema.columns] == ["r"]
    else:
        assert_error(meta.status)
    assert sasl_client.wait_finished(op)[-1].operationState == STATE.FINISHED_STATE


@pytest.mark.parametrize(
    ("version", "state"),
    [
        pytest.param(V.HIVE_CLI_SERVICE_PROTOCOL_V10, STATE.TIMEDOUT_STATE, id="V10-TIMEDOUT"),
        pytest.param(
            V.HIVE_CLI_SERVICE_PROTOCOL_V6,
            STATE.ERROR_STATE,
            marks=pytest.mark.target_has("no_timedout_below_v10"),
            id="V6-ERROR",
        ),
    ],
)
def test_query_timeout(sasl_client: RawClient, version: int, state: int) -> None:
    """[19, 24] queryTimeout is enforced: TIMEDOUT for V10 sessions (JDBC's
    SQLTimeoutException), ERROR_STATE with a message for V6 (impyla knows no TIMEDOUT)."""
    session = sasl_client.session(version)
    started = time.monotonic()
    resp = sasl_client.client.ExecuteStatement(
        ttypes.TExecuteStatementReq(
            session,
            sleep_sql(8000),
            runAsync=True,
            queryTimeout=1,
        )
    )
    assert_success(resp.status)
    final = sasl_client.wait_finished(resp.operationHandle)[-1]
    assert final.operationState == state
    assert time.monotonic() - started < 7  # the query alone would take 8 s
    if state == STATE.ERROR_STATE:
        assert final.errorMessage


def test_fetch_orientations(sasl_client: RawClient) -> None:
    """[33] FETCH_NEXT continues, FETCH_FIRST rewinds to row 0, end = empty batch; an
    unsupported orientation is an error."""
    session = sasl_client.session()
    op = sasl_client.execute(session, "select id from range(5)")
    assert fetch_columns(sasl_client, op, max_rows=2) == [[0, 1]]
    assert fetch_columns(sasl_client, op, max_rows=2) == [[2, 3]]
    assert fetch_columns(sasl_client, op, max_rows=3, orientation=ORIENT.FETCH_FIRST) == [[0, 1, 2]]
    assert fetch_columns(sasl_client, op, max_rows=10) == [[3, 4]]
    end = sasl_client.fetch(op, 10)
    assert_success(end.status)
    assert column_values(end.results.columns[0])[0] == []
    assert end.hasMoreRows is False
    assert fetch_columns(sasl_client, op, max_rows=10, orientation=ORIENT.FETCH_FIRST) == [
        [0, 1, 2, 3, 4]
    ]
    resp = sasl_client.fetch(op, 10, orientation=ORIENT.FETCH_ABSOLUTE)
    assert_error(resp.status)
    assert_required_fields(resp)


def test_statement_without_columns(sasl_client: RawClient) -> None:
    """[36] a DDL either has no result set or (STS) a 'Result' string column with no rows."""
    session = sasl_client.session()
    op = sasl_client.execute(session, "set spark.sql.shuffle.partitions=4")
    assert fetch_columns(sasl_client, op) == [["spark.sql.shuffle.partitions"], ["4"]]
    op = sasl_client.execute(session, "create temporary view protocol_v as select 1 as a")
    if op.hasResultSet:
        assert [c.columnName for c in schema_of(sasl_client, op)] == ["Result"]
        assert not any(fetch_columns(sasl_client, op)), "rows from a DDL"
    op = sasl_client.execute(session, "select a from protocol_v")
    assert fetch_columns(sasl_client, op) == [[1]]


@pytest.mark.target_has("empty_batches_keep_columns")
def test_empty_batches_keep_their_columns(sasl_client: RawClient) -> None:
    """[27] a batch without rows still has one (empty) TColumn per result column: impyla reads
    the row count from column 0 (STS sends no columns for a DDL -> IndexError in impyla)."""
    session = sasl_client.session()
    op = sasl_client.execute(session, "create temporary view protocol_e as select 1 as a")
    if op.hasResultSet:
        assert fetch_columns(sasl_client, op) == [[]]
    op = sasl_client.execute(session, "select a, 'x' as b from protocol_e where a < 0")
    assert fetch_columns(sasl_client, op) == [[], []]


# --------------------------------------------------------------------------------------------------
# Result sets


def test_row_based_results_below_v6(sasl_client: RawClient) -> None:
    """[26] a V5 session gets TRow lists (columns unset); NULL = a value wrapper left unset."""
    session = sasl_client.session(V.HIVE_CLI_SERVICE_PROTOCOL_V5)
    op = sasl_client.execute(
        session,
        "select 1, 'a', cast(null as int), cast(null as string), true, 2.5d, "
        "cast(7 as bigint), cast(1.5 as decimal(10,2)), X'41'",
    )
    resp = sasl_client.fetch(op)
    assert_success(resp.status)
    assert_required_fields(resp)
    assert not resp.results.columns
    (row,) = resp.results.rows
    values = [
        (name, getattr(cell, name).value)
        for cell in row.colVals
        for name in ("boolVal", "byteVal", "i16Val", "i32Val", "i64Val", "doubleVal", "stringVal")
        if getattr(cell, name) is not None
    ]
    assert values == [
        ("i32Val", 1),
        ("stringVal", "a"),
        ("i32Val", None),
        ("stringVal", None),
        ("boolVal", True),
        ("doubleVal", 2.5),
        ("i64Val", 7),
        ("stringVal", "1.50"),
        ("stringVal", "A"),  # BINARY travels as a string in row mode (STS)
    ]


def test_columnar_variants_and_null_bitmap(sasl_client: RawClient) -> None:
    """[26-29] V6+: one TColumn per result column in the variant for its type, ``rows`` empty;
    nulls at rows 0,3,6,9 of 10 are the bitmap 49 02 and values has a slot per row."""
    session = sasl_client.session(V.HIVE_CLI_SERVICE_PROTOCOL_V6)
    nullable = "if(id % 3 = 0, null, {})"
    exprs = [
        ("id", "i64Val"),
        ("cast(id as boolean)", "boolVal"),
        ("cast(id as tinyint)", "byteVal"),
        ("cast(id as smallint)", "i16Val"),
        ("cast(id as int)", "i32Val"),
        ("cast(id as float)", "doubleVal"),
        ("cast(id as double)", "doubleVal"),
        ("cast(id as string)", "stringVal"),
        ("cast(id as decimal(10,2))", "stringVal"),
        ("date_add(date'2024-01-01', cast(id as int))", "stringVal"),
        ("timestamp_seconds(id)", "stringVal"),
        ("array(id)", "stringVal"),
        ("cast(cast(id as string) as binary)", "binaryVal"),
    ]
    select_list = ", ".join(nullable.format(e) for e, _ in exprs)
    op = sasl_client.execute(session, f"select id, {select_list} from range(10) order by id")
    resp = sasl_client.fetch(op)
    assert_success(resp.status)
    assert_required_fields(resp)
    assert resp.results.rows == []
    assert resp.results.binaryColumns is None and resp.results.columnCount is None  # [34]
    columns = resp.results.columns
    assert len(columns) == len(exprs) + 1
    ids, id_nulls = column_values(columns[0])
    assert ids == list(range(10))
    assert decode_nulls(id_nulls, 10) == [False] * 10
    assert len(id_nulls) <= 2 and not any(id_nulls)
    for column, (expr, variant) in zip(columns[1:], exprs, strict=True):
        assert getattr(column, variant) is not None, f"{expr}: expected {variant}: {column}"
        values, nulls = column_values(column)
        assert len(values) == 10, expr
        assert nulls == b"\x49\x02", f"{expr}: nulls {nulls.hex()}"
    cast_strings = column_values(columns[8])[0]
    assert [cast_strings[i] for i in (1, 2, 4)] == ["1", "2", "4"]


def test_result_schema_descriptors(sasl_client: RawClient) -> None:
    """[31] one primitiveEntry per column (also for complex types), 0-based positions, DECIMAL
    precision/scale and CHAR/VARCHAR length qualifiers."""
    session = sasl_client.session()
    op = sasl_client.execute(
        session,
        "select cast(1.5 as decimal(10,2)) a, 'x' b, timestamp'2024-01-01 00:00:00' c, "
        "array(1) d, map('k', 1) e, named_struct('f', 1) f, date'2024-01-01' g, "
        "cast(null as void) h",
    )
    schema = schema_of(sasl_client, op)
    assert [(c.columnName, c.position) for c in schema] == [
        (name, i) for i, name in enumerate("abcdefgh")
    ]
    for col in schema:
        assert len(col.typeDesc.types) == 1
        assert col.typeDesc.types[0].primitiveEntry is not None, col
        assert col.typeDesc.types[0].primitiveEntry.typeQualifiers is not None
    assert type_ids(sasl_client, op) == [
        TYPE.DECIMAL_TYPE,
        TYPE.STRING_TYPE,
        TYPE.TIMESTAMP_TYPE,
        TYPE.ARRAY_TYPE,
        TYPE.MAP_TYPE,
        TYPE.STRUCT_TYPE,
        TYPE.DATE_TYPE,
        TYPE.NULL_TYPE,
    ]
    qualifiers = schema[0].typeDesc.types[0].primitiveEntry.typeQualifiers.qualifiers
    assert (qualifiers["precision"].i32Value, qualifiers["scale"].i32Value) == (10, 2)

    # Literal CHAR/VARCHAR casts are strings to Spark: the qualifiers come from table columns.
    table = f"protocol_chars_{time.monotonic_ns()}"
    sasl_client.execute(session, f"create table {table} (c char(5), v varchar(7)) using parquet")
    try:
        op = sasl_client.execute(session, f"select c, v from {table}")
        schema = schema_of(sasl_client, op)
        assert [c.typeDesc.types[0].primitiveEntry.type for c in schema] == [
            TYPE.CHAR_TYPE,
            TYPE.VARCHAR_TYPE,
        ]
        lengths = [
            c.typeDesc.types[0]
            .primitiveEntry.typeQualifiers.qualifiers["characterMaximumLength"]
            .i32Value
            for c in schema
        ]
        assert lengths == [5, 7]
    finally:
        sasl_client.execute(session, f"drop table {table}")


@pytest.mark.target_has("intervals_below_v8_as_string")
def test_interval_type_ids_by_version(sasl_client: RawClient) -> None:
    """[32] INTERVAL_* ids (20/21) only for sessions >= V8, STRING below."""
    sql = "select interval '1-2' year to month, interval '1 02:03:04' day to second"
    for version, expected in (
        (V.HIVE_CLI_SERVICE_PROTOCOL_V6, [TYPE.STRING_TYPE, TYPE.STRING_TYPE]),
        (
            V.HIVE_CLI_SERVICE_PROTOCOL_V8,
            [TYPE.INTERVAL_YEAR_MONTH_TYPE, TYPE.INTERVAL_DAY_TIME_TYPE],
        ),
        (
            V.HIVE_CLI_SERVICE_PROTOCOL_V10,
            [TYPE.INTERVAL_YEAR_MONTH_TYPE, TYPE.INTERVAL_DAY_TIME_TYPE],
        ),
    ):
        session = sasl_client.session(version)
        op = sasl_client.execute(session, sql)
        assert type_ids(sasl_client, op) == expected, version
        assert fetch_columns(sasl_client, op) == [["1-2"], ["1 02:03:04.000000000"]]


def test_operation_log_fetch(sasl_client: RawClient) -> None:
    """[35] fetchType=1 answers a columnar rowset of exactly one string column; repeated calls
    end with an empty batch (pyhive's fetch_logs loop)."""
    session = sasl_client.session(V.HIVE_CLI_SERVICE_PROTOCOL_V6)
    op = sasl_client.execute(session, "select count(*) from range(1000)")
    batches = 0
    while True:
        batches += 1
        assert batches < 100, "the operation log never ends"
        resp = sasl_client.fetch(op, 1000, fetch_type=1)
        assert_success(resp.status)
        assert_required_fields(resp)
        (column,) = resp.results.columns
        assert column.stringVal is not None, column
        assert all(isinstance(line, str) for line in column.stringVal.values)
        if not column.stringVal.values:
            break
    assert fetch_columns(sasl_client, op) == [[1000]]


METADATA_SCHEMAS: dict[str, list[tuple[str, int]]] = {
    "GetTables": [
        (name, TYPE.STRING_TYPE)
        for name in (
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
        )
    ],
    "GetColumns": [
        ("TABLE_CAT", TYPE.STRING_TYPE),
        ("TABLE_SCHEM", TYPE.STRING_TYPE),
        ("TABLE_NAME", TYPE.STRING_TYPE),
        ("COLUMN_NAME", TYPE.STRING_TYPE),
        ("DATA_TYPE", TYPE.INT_TYPE),
        ("TYPE_NAME", TYPE.STRING_TYPE),
        ("COLUMN_SIZE", TYPE.INT_TYPE),
        ("BUFFER_LENGTH", TYPE.TINYINT_TYPE),
        ("DECIMAL_DIGITS", TYPE.INT_TYPE),
        ("NUM_PREC_RADIX", TYPE.INT_TYPE),
        ("NULLABLE", TYPE.INT_TYPE),
        ("REMARKS", TYPE.STRING_TYPE),
        ("COLUMN_DEF", TYPE.STRING_TYPE),
        ("SQL_DATA_TYPE", TYPE.INT_TYPE),
        ("SQL_DATETIME_SUB", TYPE.INT_TYPE),
        ("CHAR_OCTET_LENGTH", TYPE.INT_TYPE),
        ("ORDINAL_POSITION", TYPE.INT_TYPE),
        ("IS_NULLABLE", TYPE.STRING_TYPE),
        ("SCOPE_CATALOG", TYPE.STRING_TYPE),
        ("SCOPE_SCHEMA", TYPE.STRING_TYPE),
        ("SCOPE_TABLE", TYPE.STRING_TYPE),
        ("SOURCE_DATA_TYPE", TYPE.SMALLINT_TYPE),
        ("IS_AUTO_INCREMENT", TYPE.STRING_TYPE),
    ],
    "GetSchemas": [("TABLE_SCHEM", TYPE.STRING_TYPE), ("TABLE_CATALOG", TYPE.STRING_TYPE)],
    "GetCatalogs": [("TABLE_CAT", TYPE.STRING_TYPE)],
    "GetTableTypes": [("TABLE_TYPE", TYPE.STRING_TYPE)],
    "GetTypeInfo": [
        ("TYPE_NAME", TYPE.STRING_TYPE),
        ("DATA_TYPE", TYPE.INT_TYPE),
        ("PRECISION", TYPE.INT_TYPE),
        ("LITERAL_PREFIX", TYPE.STRING_TYPE),
        ("LITERAL_SUFFIX", TYPE.STRING_TYPE),
        ("CREATE_PARAMS", TYPE.STRING_TYPE),
        ("NULLABLE", TYPE.SMALLINT_TYPE),
        ("CASE_SENSITIVE", TYPE.BOOLEAN_TYPE),
        ("SEARCHABLE", TYPE.SMALLINT_TYPE),
        ("UNSIGNED_ATTRIBUTE", TYPE.BOOLEAN_TYPE),
        ("FIXED_PREC_SCALE", TYPE.BOOLEAN_TYPE),
        ("AUTO_INCREMENT", TYPE.BOOLEAN_TYPE),
        ("LOCAL_TYPE_NAME", TYPE.STRING_TYPE),
        ("MINIMUM_SCALE", TYPE.SMALLINT_TYPE),
        ("MAXIMUM_SCALE", TYPE.SMALLINT_TYPE),
        ("SQL_DATA_TYPE", TYPE.INT_TYPE),
        ("SQL_DATETIME_SUB", TYPE.INT_TYPE),
        ("NUM_PREC_RADIX", TYPE.INT_TYPE),
    ],
    "GetFunctions": [
        ("FUNCTION_CAT", TYPE.STRING_TYPE),
        ("FUNCTION_SCHEM", TYPE.STRING_TYPE),
        ("FUNCTION_NAME", TYPE.STRING_TYPE),
        ("REMARKS", TYPE.STRING_TYPE),
        ("FUNCTION_TYPE", TYPE.INT_TYPE),
        ("SPECIFIC_NAME", TYPE.STRING_TYPE),
    ],
    "GetPrimaryKeys": [
        ("TABLE_CAT", TYPE.STRING_TYPE),
        ("TABLE_SCHEM", TYPE.STRING_TYPE),
        ("TABLE_NAME", TYPE.STRING_TYPE),
        ("COLUMN_NAME", TYPE.STRING_TYPE),
        ("KEQ_SEQ", TYPE.INT_TYPE),
        ("PK_NAME", TYPE.STRING_TYPE),
    ],
}


@pytest.fixture(scope="module")
def meta_db(hs2_target: HS2Target) -> Iterator[str]:
    """A database with two tables and a view for the metadata RPC tests."""
    db = f"protocol_meta_{time.monotonic_ns()}"
    with RawClient(hs2_target) as raw:
        session = raw.session()
        for sql in (
            f"create database {db}",
            f"create table {db}.tab_one (a int, b string) using parquet",
            f"create table {db}.tab_two (x double) using parquet",
            f"create view {db}.view_one as select a from {db}.tab_one",
        ):
            raw.execute(session, sql)
        yield db
        raw.execute(session, f"drop database {db} cascade")


def metadata_request(name: str, session: ttypes.TSessionHandle, db: str) -> Any:
    return {
        "GetTables": lambda: ttypes.TGetTablesReq(session, None, db, "%"),
        "GetColumns": lambda: ttypes.TGetColumnsReq(session, None, db, "tab_one", "%"),
        "GetSchemas": lambda: ttypes.TGetSchemasReq(session, None, db),
        "GetCatalogs": lambda: ttypes.TGetCatalogsReq(session),
        "GetTableTypes": lambda: ttypes.TGetTableTypesReq(session),
        "GetTypeInfo": lambda: ttypes.TGetTypeInfoReq(session),
        "GetFunctions": lambda: ttypes.TGetFunctionsReq(session, None, None, "upper"),
        "GetPrimaryKeys": lambda: ttypes.TGetPrimaryKeysReq(session, None, db, "tab_one"),
    }[name]()


@pytest.mark.parametrize("rpc", sorted(METADATA_SCHEMAS))
def test_metadata_result_schema(sasl_client: RawClient, meta_db: str, rpc: str) -> None:
    """[37] result column names and types exactly as STS sends them."""
    session = sasl_client.session()
    resp = getattr(sasl_client.client, rpc)(metadata_request(rpc, session, meta_db))
    assert_success(resp.status)
    assert_required_fields(resp)
    schema = schema_of(sasl_client, resp.operationHandle)
    assert [
        (c.columnName, c.typeDesc.types[0].primitiveEntry.type) for c in schema
    ] == METADATA_SCHEMAS[rpc]
    fetched = sasl_client.fetch(resp.operationHandle, max_rows=10000)
    assert_success(fetched.status)
    assert_required_fields(fetched)
    assert len(fetched.results.columns) == len(METADATA_SCHEMAS[rpc])


def metadata_rows(raw: RawClient, resp: Any) -> list[list[Any]]:
    assert_success(resp.status)
    return fetch_columns(raw, resp.operationHandle, max_rows=10000)


def test_metadata_rows(sasl_client: RawClient, meta_db: str) -> None:
    session = sasl_client.session()
    client = sasl_client.client
    tables = metadata_rows(
        sasl_client, client.GetTables(ttypes.TGetTablesReq(session, None, meta_db, "%"))
    )
    assert sorted(zip(tables[0], tables[1], tables[2], tables[3], tables[4], strict=True)) == [
        ("", meta_db, "tab_one", "TABLE", ""),
        ("", meta_db, "tab_two", "TABLE", ""),
        ("", meta_db, "view_one", "VIEW", ""),
    ]
    columns = metadata_rows(
        sasl_client,
        client.GetColumns(ttypes.TGetColumnsReq(session, None, meta_db, "tab_one", "%")),
    )
    # COLUMN_NAME, DATA_TYPE, TYPE_NAME, ORDINAL_POSITION, IS_NULLABLE
    assert list(zip(columns[3], columns[4], columns[5], columns[16], columns[17], strict=True)) == [
        ("a", 4, "INT", 1, "YES"),
        ("b", 12, "STRING", 2, "YES"),
    ]
    schemas = metadata_rows(
        sasl_client, client.GetSchemas(ttypes.TGetSchemasReq(session, None, meta_db))
    )
    assert schemas == [[meta_db], [""]]
    types = metadata_rows(sasl_client, client.GetTableTypes(ttypes.TGetTableTypesReq(session)))
    assert sorted(types[0]) == ["TABLE", "VIEW"]
    type_info = metadata_rows(sasl_client, client.GetTypeInfo(ttypes.TGetTypeInfoReq(session)))
    assert {"INT", "STRING", "DECIMAL", "TIMESTAMP"} <= set(type_info[0])
    functions = metadata_rows(
        sasl_client, client.GetFunctions(ttypes.TGetFunctionsReq(session, None, None, "upper"))
    )
    assert set(functions[2]) == {"upper"}


def test_metadata_patterns(sasl_client: RawClient, meta_db: str) -> None:
    """[38] null = all, JDBC wildcards with escapes, impyla's '.*', table type filters."""
    session = sasl_client.session()

    def table_names(table: str | None, types: list[str] | None = None) -> list[str]:
        req = ttypes.TGetTablesReq(session, None, meta_db, table, types)
        return sorted(metadata_rows(sasl_client, sasl_client.client.GetTables(req))[2])

    assert table_names("tab\\_%") == ["tab_one", "tab_two"]
    assert table_names("tab_o%") == ["tab_one"]
    assert table_names(".*") == ["tab_one", "tab_two", "view_one"]
    assert table_names(None) == ["tab_one", "tab_two", "view_one"]
    assert table_names("%", ["VIEW"]) == ["view_one"]
    assert table_names("%", ["TABLE"]) == ["tab_one", "tab_two"]
    schemas = sasl_client.client.GetSchemas(ttypes.TGetSchemasReq(session, None, ".*"))
    assert meta_db in metadata_rows(sasl_client, schemas)[0]
    columns = sasl_client.client.GetColumns(
        ttypes.TGetColumnsReq(session, None, meta_db, "tab_one", ".*")
    )
    assert metadata_rows(sasl_client, columns)[3] == ["a", "b"]


def test_replies_set_required_fields(sasl_client: RawClient) -> None:
    """[9, 15] every reply of a typical session validates; successes are exactly SUCCESS."""
    client = sasl_client.client
    opened = sasl_client.open_session(V.HIVE_CLI_SERVICE_PROTOCOL_V10)
    session = opened.sessionHandle
    replies: list[Any] = [opened]
    replies.append(client.GetInfo(ttypes.TGetInfoReq(session, ttypes.TGetInfoType.CLI_DBMS_VER)))
    executed = client.ExecuteStatement(
        ttypes.TExecuteStatementReq(
            session, "select 1 a, null b, array(1) c", confOverlay={}, runAsync=True
        )
    )
    replies.append(executed)
    op = executed.operationHandle
    replies.extend(sasl_client.wait_finished(op))
    replies.append(client.GetResultSetMetadata(ttypes.TGetResultSetMetadataReq(op)))
    replies.append(sasl_client.fetch(op))
    replies.append(sasl_client.fetch(op))
    replies.append(sasl_client.fetch(op, fetch_type=1))
    replies.append(client.CloseOperation(ttypes.TCloseOperationReq(op)))
    replies.append(client.CloseSession(ttypes.TCloseSessionReq(session)))
    for reply in replies:
        assert_required_fields(reply)
        assert reply.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS, reply


# --------------------------------------------------------------------------------------------------
# Bad input on raw sockets (reliability.md §4.1), our targets only. A healthy pyhive client keeps
# querying throughout each test.


def assert_closed_or_refused(sock: socket.socket, allowed_first_bytes: bytes = b"") -> bytes:
    """The server closes the connection within 10 s; anything it sends first starts with one of
    ``allowed_first_bytes`` (e.g. a SASL BAD/ERROR status)."""
    data, closed = read_until_closed(sock, timeout_s=10)
    assert closed, f"connection still open 10 s after bad input (got {data[:80]!r})"
    if data:
        assert data[:1] in [bytes([b]) for b in allowed_first_bytes], data[:80]
    return data


@pytest.mark.target_has("bad_input")
@pytest.mark.parametrize(
    "garbage",
    [b"\x42" + b"GARBAGE" * 10, b"\xff" * 64, b"\x06\x00\x00\x00\x05PLAIN"],
    ids=["ascii", "0xff", "status6"],
)
def test_garbage_first_byte(hs2_target: HS2Target, garbage: bytes) -> None:
    with Heartbeat(hs2_target), raw_socket(hs2_target) as sock:
        sock.sendall(garbage)
        assert_closed_or_refused(sock, allowed_first_bytes=b"\x03\x04")


@pytest.mark.target_has("bad_input")
@pytest.mark.parametrize("status", [0x00, 0x06, 0xFF, 0x01])
def test_bad_sasl_status_after_start(hs2_target: HS2Target, status: int) -> None:
    """T3/T11: after START, a status other than OK/COMPLETE (0x01 = a second START)."""
    with Heartbeat(hs2_target), raw_socket(hs2_target) as sock:
        sock.sendall(sasl_message(1, b"PLAIN") + sasl_message(status, b"\0user\0pw"))
        assert_closed_or_refused(sock, allowed_first_bytes=b"\x03\x04")


@pytest.mark.target_has("bad_input")
@pytest.mark.parametrize(
    "payload",
    [b"", b"\0", b"a\0", b"\0\0", b"a\0b\0c\0d", b"\0\0pw"],
    ids=["empty", "nul", "one-token", "two-nuls", "four-tokens", "empty-user"],
)
def test_malformed_plain_payload(hs2_target: HS2Target, payload: bytes) -> None:
    """[2] T7: BAD (03 | len | message), then close."""
    with Heartbeat(hs2_target), raw_socket(hs2_target) as sock:
        sock.sendall(sasl_message(1, b"PLAIN") + sasl_message(2, payload))
        data = assert_closed_or_refused(sock, allowed_first_bytes=b"\x03\x04")
        assert data, "no SASL BAD/ERROR message before the close"
        (length,) = struct.unpack(">I", data[1:5])
        assert length == len(data) - 5 and length > 0, data


@pytest.mark.target_has("bad_input")
def test_unsupported_sasl_mechanism(hs2_target: HS2Target) -> None:
    """T6: BAD "Unsupported mechanism type ..." then close."""
    with Heartbeat(hs2_target), raw_socket(hs2_target) as sock:
        sock.sendall(sasl_message(1, b"GSSAPI") + sasl_message(2, b"token"))
        data = assert_closed_or_refused(sock, allowed_first_bytes=b"\x03\x04")
        assert data, "no SASL BAD/ERROR message before the close"


@pytest.mark.target_has("bad_input")
@pytest.mark.parametrize("length", [0x7FFFFFFF, 0xFFFFFFFF, 200 * 1024 * 1024])
def test_oversized_sasl_frame(hs2_target: HS2Target, length: int) -> None:
    """T4/T12: a frame declaring more than kyuubi.frontend.thrift.max.message.size (100 MiB
    default) or a negative size closes the connection without waiting for the bytes."""
    with Heartbeat(hs2_target), raw_socket(hs2_target) as sock:
        sasl_plain_handshake(sock)
        sock.sendall(struct.pack(">I", length) + b"\x80\x01\x00\x01")
        assert_closed_or_refused(sock)


@pytest.mark.target_has("bad_input", "nosasl")
def test_oversized_nosasl_message(hs2_target: HS2Target) -> None:
    """An unframed message whose method name declares ~2 GiB."""
    with Heartbeat(hs2_target), raw_socket(hs2_target) as sock:
        sock.sendall(b"\x80\x01\x00\x01" + struct.pack(">I", 0x7FFFFFF0) + b"OpenSe")
        assert_closed_or_refused(sock)


@pytest.mark.target_has("bad_input")
@pytest.mark.parametrize("sasl", TRANSPORTS)
def test_invalid_utf8_statement(hs2_target: HS2Target, sasl: bool) -> None:
    """T12: invalid UTF-8 in a string field gets an error reply or closes this connection;
    never a success."""
    with Heartbeat(hs2_target), RawClient(hs2_target, sasl=sasl) as raw:
        session = raw.session()
        try:
            reply = raw.execute_bytes(session, b"select '\xff\xfe\xc3\x28'")
        except (TTransportException, EOFError, ConnectionError):
            return  # connection closed: acceptable
        if isinstance(reply, TApplicationException):
            assert reply.message, reply
            return
        assert_error(reply.status)


@pytest.mark.target_has("bad_input")
def test_truncated_frame_then_close(hs2_target: HS2Target) -> None:
    """T5: a frame declaring 1000 bytes, 10 sent, then the client goes away."""
    with Heartbeat(hs2_target):
        with raw_socket(hs2_target) as sock:
            sasl_plain_handshake(sock)
            sock.sendall(struct.pack(">I", 1000) + b"\x80\x01\x00\x01" + b"\x00" * 6)
        with raw_socket(hs2_target) as sock:
            sasl_plain_handshake(sock)
            sock.sendall(struct.pack(">I", 1000))
            sock.shutdown(socket.SHUT_WR)
            assert_closed_or_refused(sock)


@pytest.mark.target_has("bad_input")
def test_handle_from_nowhere(hs2_target: HS2Target) -> None:
    """Handles that were never issued, on a fresh connection: error statuses, nothing else."""
    with Heartbeat(hs2_target), RawClient(hs2_target) as raw:
        fake_session = ttypes.TSessionHandle(ttypes.THandleIdentifier(b"\x00" * 16, b"\x00" * 16))
        fake_op = ttypes.TOperationHandle(
            ttypes.THandleIdentifier(b"\xff" * 16, b"\xff" * 16),
            ttypes.TOperationType.GET_TABLES,
            False,
        )
        for resp in (
            raw.client.ExecuteStatement(ttypes.TExecuteStatementReq(fake_session, "select 1")),
            raw.client.GetInfo(ttypes.TGetInfoReq(fake_session, ttypes.TGetInfoType.CLI_DBMS_NAME)),
            raw.client.CloseSession(ttypes.TCloseSessionReq(fake_session)),
            raw.fetch(fake_op),
            raw.client.CloseOperation(ttypes.TCloseOperationReq(fake_op)),
        ):
            assert_error(resp.status)
            assert_required_fields(resp)
        assert_select_one_works(raw, raw.session())


def test_forged_session_secret_is_rejected(hs2_target: HS2Target) -> None:
    """A session handle with the right GUID but a wrong secret is refused."""
    with RawClient(hs2_target) as owner, RawClient(hs2_target) as other:
        session = owner.session()
        forged = ttypes.TSessionHandle(
            ttypes.THandleIdentifier(session.sessionId.guid, b"\x00" * 16)
        )
        resp = other.client.ExecuteStatement(ttypes.TExecuteStatementReq(forged, "select 1"))
        assert_error(resp.status)
        assert_select_one_works(owner, session)
