"""GatewayBackendService without sockets: handles, ownership, limits, cleanup (I1, S5, F8, F9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from thrift.protocol import fastbinary
from thrift.Thrift import TMessageType

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import ConnectionLimitError, KyuubiSQLError
from kyuubi_py.protocol.dispatch import RawMessage, encode_message_header
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.status import error_status, ok_status
from kyuubi_py.protocol.tcli import V8, V10, TCLIService, ttypes
from kyuubi_py.server.backend import GatewayBackendService
from kyuubi_py.server.fast_relay import FrameRelay, new_operation_handle
from kyuubi_py.server.router import OpenRequest
from kyuubi_py.server.session import EngineAttachment, GatewaySession, GatewaySessionManager
from kyuubi_py.server.session_conf import SessionConfPolicy, validate_session_conf
from kyuubi_py.service.backend import Caller

pytestmark = pytest.mark.timeout(30)

ALICE = Caller(1, "alice", "10.0.0.1")
ALICE_2 = Caller(2, "alice", "10.0.0.1")
BOB = Caller(3, "bob", "10.0.0.2")
NOSASL = Caller(4, None, "10.0.0.3", "NOSASL")


class FakeEngineClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.broken = False
        self.closed = False
        self.address = "127.0.0.1:1"

    def call(self, method: str, req: Any) -> Any:
        self._check()
        self.calls.append((method, req))
        if method == "GetQueryId":
            return ttypes.TGetQueryIdResp(queryId="q-1")
        return _resp(method)

    def relay(self, method: str, req: Any) -> RawMessage:
        self._check()
        self.calls.append((method, req))
        return RawMessage([method.encode()])

    def relay_frame(self, message: bytes, header_length: int) -> bytes | None:
        """An ExecuteStatement reply with a fresh operation handle, as the engine sends it."""
        self._check()
        self.calls.append(("relay_frame", message))
        handle = OperationHandle().to_thrift()
        result = TCLIService.ExecuteStatement_result(
            success=ttypes.TExecuteStatementResp(ok_status(), handle)
        )
        spec = [
            TCLIService.ExecuteStatement_result,
            TCLIService.ExecuteStatement_result.thrift_spec,
        ]
        header = encode_message_header("ExecuteStatement", TMessageType.REPLY, 1)
        return header + fastbinary.encode_binary(result, spec)

    def new_operation(self, method: str, req: Any) -> OperationHandle:
        self._check()
        self.calls.append((method, req))
        return OperationHandle()

    def close_session(self, handle: SessionHandle) -> None:
        self._check()
        self.calls.append(("CloseSession", handle))

    def close(self) -> None:
        self.closed = True

    def _check(self) -> None:
        if self.broken:
            raise KyuubiSQLError(
                "The engine of this session is no longer reachable (x); open a new session"
            )


def _resp(method: str) -> Any:
    return getattr(ttypes, f"T{method}Resp")(status=ok_status())


class FakeRouter:
    """Stands in for SessionRouter: validates conf for real, attaches fake engines."""

    def __init__(self, conf: KyuubiConf) -> None:
        self.policy = SessionConfPolicy.from_conf(conf)
        self.clients: list[FakeEngineClient] = []
        self.released = 0
        self.fail_attach: Exception | None = None

    def prepare(self, user: str, client_host: str, configuration: Mapping[str, str]) -> OpenRequest:
        session_conf = validate_session_conf(configuration, self.policy, user)
        return OpenRequest(user, client_host, session_conf, KyuubiConf())

    def attach(self, request: OpenRequest, session: GatewaySession) -> EngineAttachment:
        if self.fail_attach is not None:
            raise self.fail_attach
        client = FakeEngineClient()
        self.clients.append(client)

        def release() -> None:
            self.released += 1

        return EngineAttachment(
            client,
            SessionHandle(),
            min(session.protocol_version, V10),  # type: ignore[arg-type]
            {"engine": "conf"},
            release,
        )


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_backend(clock: Clock, **settings: str) -> tuple[GatewayBackendService, FakeRouter]:
    conf = KyuubiConf(settings)
    router = FakeRouter(conf)
    backend = GatewayBackendService(router, GatewaySessionManager(clock=clock))  # type: ignore[arg-type]
    backend.initialize(conf)
    backend.start()
    return backend, router


def open_as(
    backend: GatewayBackendService, caller: Caller, conf: Mapping[str, str] | None = None
) -> SessionHandle:
    return backend.open_session(caller, V8, "ignored", "pw", conf or {}).handle


def test_open_returns_the_engines_handle_and_conf(clock: Clock) -> None:
    backend, router = make_backend(clock)
    opened = backend.open_session(ALICE, V8, None, None, {})
    assert opened.protocol_version == V8
    assert opened.configuration == {"engine": "conf"}
    session = backend.sessions.get_session(ALICE, opened.handle)
    assert session.engine.handle == opened.handle
    assert session.user == "alice"


def test_nosasl_identity_is_the_open_session_username(clock: Clock) -> None:
    backend, _ = make_backend(clock)
    handle = backend.open_session(NOSASL, V8, "carol", None, {}).handle
    assert backend.sessions.get_session(NOSASL, handle).user == "carol"
    with pytest.raises(KyuubiSQLError, match="Invalid user name"):
        backend.open_session(NOSASL, V8, "../etc", None, {})


def test_other_users_get_the_unknown_handle_error(clock: Clock) -> None:
    backend, router = make_backend(clock)
    session = open_as(backend, ALICE)
    operation = backend.execute_statement(ALICE, session, "select 1", {}, True, 0)
    unknown_op = OperationHandle()
    calls_before = len(router.clients[0].calls)

    def message(action: Any) -> str:
        with pytest.raises(KyuubiSQLError) as info:
            action()
        return info.value.message

    unknown = message(lambda: backend.fetch_results(ALICE, unknown_op, 0, 10, 0))
    assert unknown == f"Invalid OperationHandle: {unknown_op.public_id}"
    for action in (
        lambda: backend.fetch_results(BOB, operation, 0, 10, 0),
        lambda: backend.get_operation_status(BOB, operation, False),
        lambda: backend.cancel_operation(BOB, operation),
        lambda: backend.close_operation(BOB, operation),
        lambda: backend.get_result_set_metadata(BOB, operation),
        lambda: backend.get_query_id(BOB, operation),
        lambda: backend.fetch_results(NOSASL, operation, 0, 10, 0),
    ):
        assert message(action) == f"Invalid OperationHandle: {operation.public_id}"
    forged = OperationHandle(operation.guid)  # right guid, wrong secret
    assert message(lambda: backend.fetch_results(ALICE, forged, 0, 10, 0)).startswith("Invalid Op")
    for action in (
        lambda: backend.execute_statement(BOB, session, "select 1", {}, False, 0),
        lambda: backend.close_session(BOB, session),
        lambda: backend.get_info(BOB, session, 1),
        lambda: backend.get_tables(BOB, session, None, None, None, None),
    ):
        assert message(action) == f"Invalid SessionHandle: {session.public_id}"
    assert len(router.clients[0].calls) == calls_before  # nothing reached the engine
    # alice's own connections still work, including a second connection of hers
    assert isinstance(backend.fetch_results(ALICE_2, operation, 0, 10, 0), RawMessage)


def test_relayed_calls_carry_the_right_request(clock: Clock) -> None:
    backend, router = make_backend(clock)
    session = open_as(backend, ALICE)
    operation = backend.get_columns(ALICE, session, "c", "s", "t", "col")
    backend.fetch_results(ALICE, operation, 1, 500, 1)
    backend.get_operation_status(ALICE, operation, True)
    assert backend.get_query_id(ALICE, operation) == "q-1"
    calls = router.clients[0].calls
    method, columns = calls[0]
    assert method == "GetColumns" and columns.sessionHandle == session.to_thrift()
    assert (columns.catalogName, columns.schemaName, columns.tableName, columns.columnName) == (
        "c",
        "s",
        "t",
        "col",
    )
    method, fetch = calls[1]
    assert method == "FetchResults"
    assert (fetch.orientation, fetch.maxRows, fetch.fetchType) == (1, 500, 1)
    assert fetch.operationHandle == operation.to_thrift()
    assert calls[2][0] == "GetOperationStatus" and calls[2][1].getProgressUpdate


def test_close_operation_forgets_it(clock: Clock) -> None:
    backend, _ = make_backend(clock)
    session = open_as(backend, ALICE)
    operation = backend.execute_statement(ALICE, session, "select 1", {}, False, 0)
    backend.close_operation(ALICE, operation)
    with pytest.raises(KyuubiSQLError, match="Invalid OperationHandle"):
        backend.fetch_results(ALICE, operation, 0, 1, 0)
    assert backend.sessions.operation_count == 0


def test_statement_overlay_is_policed(clock: Clock) -> None:
    backend, router = make_backend(clock)
    session = open_as(backend, ALICE)
    with pytest.raises(KyuubiSQLError, match="cannot be set by a client"):
        backend.execute_statement(ALICE, session, "select 1", {"spark.jars": "x"}, False, 0)
    backend.execute_statement(ALICE, session, "select 1", {"set:hivevar:a": "1"}, False, 0)
    assert router.clients[0].calls[-1][1].confOverlay == {"a": "1"}


def test_close_session_frees_everything(clock: Clock) -> None:
    backend, router = make_backend(clock, **{"kyuubi.server.limit.connections.per.user": "1"})
    session = open_as(backend, ALICE)
    backend.execute_statement(ALICE, session, "select 1", {}, True, 0)
    with pytest.raises(ConnectionLimitError, match="Connection limit per user reached"):
        open_as(backend, ALICE)
    backend.close_session(ALICE, session)
    client = router.clients[0]
    assert ("CloseSession", session) in client.calls and client.closed
    assert router.released == 1
    assert backend.sessions.operation_count == 0
    assert backend.limiter.counts("alice", "10.0.0.1") == (0, 0, 0)
    open_as(backend, ALICE)


def test_failed_opens_never_leak_counts(clock: Clock) -> None:
    backend, router = make_backend(
        clock,
        **{
            "kyuubi.server.limit.connections.per.user": "2",
            "kyuubi.session.conf.restrict.list": "spark.executor.memory",
        },
    )
    for _ in range(5):
        with pytest.raises(KyuubiSQLError, match="restricted"):
            open_as(backend, ALICE, {"spark.executor.memory": "1g"})
    router.fail_attach = KyuubiSQLError("Failed to launch engine x: boom")
    for _ in range(5):
        with pytest.raises(KyuubiSQLError, match="boom"):
            open_as(backend, ALICE)
    assert backend.limiter.counts("alice", "10.0.0.1") == (0, 0, 0)
    router.fail_attach = None
    open_as(backend, ALICE)
    open_as(backend, ALICE)


def test_connection_closed_closes_its_sessions_only(clock: Clock) -> None:
    backend, router = make_backend(clock)
    first = open_as(backend, ALICE)
    second = open_as(backend, ALICE_2)
    backend.connection_closed(ALICE)
    with pytest.raises(KyuubiSQLError):
        backend.get_info(ALICE, first, 1)
    backend.get_info(ALICE_2, second, 1)
    assert router.clients[0].closed and not router.clients[1].closed
    assert backend.limiter.counts("alice", "10.0.0.1") == (1, 1, 1)


def test_broken_engine_fails_that_session_only(clock: Clock) -> None:
    backend, router = make_backend(clock)
    alice = open_as(backend, ALICE)
    bob = open_as(backend, BOB)
    router.clients[0].broken = True
    with pytest.raises(KyuubiSQLError, match="no longer reachable"):
        backend.execute_statement(ALICE, alice, "select 1", {}, False, 0)
    backend.execute_statement(BOB, bob, "select 1", {}, False, 0)
    backend.close_session(ALICE, alice)  # closing a broken session still works
    assert router.released == 1


def test_idle_operations_then_sessions_are_closed(clock: Clock) -> None:
    backend, router = make_backend(
        clock,
        **{"kyuubi.operation.idle.timeout": "PT2S", "kyuubi.session.idle.timeout": "PT5S"},
    )
    session = open_as(backend, ALICE)
    operation = backend.execute_statement(ALICE, session, "select 1", {}, True, 0)
    clock.now += 3
    backend.sessions.check_idle()
    with pytest.raises(KyuubiSQLError, match="Invalid OperationHandle"):
        backend.fetch_results(ALICE, operation, 0, 1, 0)
    assert router.clients[0].calls[-1][0] == "CloseOperation"
    backend.get_info(ALICE, session, 1)  # still open: it was used 3 s ago
    clock.now += 6
    backend.sessions.check_idle()
    with pytest.raises(KyuubiSQLError, match="Invalid SessionHandle"):
        backend.get_info(ALICE, session, 1)
    assert router.released == 1


def test_a_call_in_flight_keeps_the_session_open(clock: Clock) -> None:
    backend, router = make_backend(clock, **{"kyuubi.session.idle.timeout": "PT5S"})
    handle = open_as(backend, ALICE)
    session = backend.sessions.get_session(ALICE, handle)
    with session.busy():
        clock.now += 60
        backend.sessions.check_idle()
        assert backend.sessions.session_count == 1


def _get_info_reply(value: ttypes.TGetInfoValue, status: ttypes.TStatus) -> RawMessage:
    result = TCLIService.GetInfo_result(success=ttypes.TGetInfoResp(status, value))
    body = fastbinary.encode_binary(result, [TCLIService.GetInfo_result, result.thrift_spec])
    return RawMessage([encode_message_header("GetInfo", TMessageType.REPLY, 5) + body])


def test_get_info_is_answered_by_the_gateway_after_the_first_call(clock: Clock) -> None:
    backend, router = make_backend(clock)
    first, second = open_as(backend, ALICE), open_as(backend, BOB)
    name = _get_info_reply(ttypes.TGetInfoValue(stringValue="Spark SQL"), ok_status())
    for engine in router.clients:
        engine.relay = lambda method, req: name  # type: ignore[method-assign]
    assert backend.get_info(ALICE, first, ttypes.TGetInfoType.CLI_DBMS_NAME) is name
    router.clients[0].broken = True  # the cached answer needs no engine
    assert backend.get_info(ALICE, first, ttypes.TGetInfoType.CLI_DBMS_NAME) is name
    assert backend.get_info(BOB, second, ttypes.TGetInfoType.CLI_DBMS_NAME) is name
    user = backend.get_info(BOB, second, ttypes.TGetInfoType.CLI_USER_NAME)
    assert user == ttypes.TGetInfoValue(stringValue="bob")


def test_failed_get_info_answers_are_not_cached(clock: Clock) -> None:
    backend, router = make_backend(clock)
    session = open_as(backend, ALICE)
    failed = _get_info_reply(
        ttypes.TGetInfoValue(lenValue=0), error_status(KyuubiSQLError("no", "HY096"))
    )
    calls: list[str] = []

    def relay(method: str, req: Any) -> RawMessage:
        calls.append(method)
        return failed

    router.clients[0].relay = relay  # type: ignore[method-assign]
    backend.get_info(ALICE, session, 999)
    backend.get_info(ALICE, session, 999)
    assert calls == ["GetInfo", "GetInfo"]


def _statement_frame(session: SessionHandle, conf_overlay: dict[str, str] | None = None):
    req = ttypes.TExecuteStatementReq(session.to_thrift(), "SELECT 1", conf_overlay, True)
    args = TCLIService.ExecuteStatement_args(req=req)
    header = encode_message_header("ExecuteStatement", TMessageType.CALL, 1)
    spec = [TCLIService.ExecuteStatement_args, TCLIService.ExecuteStatement_args.thrift_spec]
    return header + fastbinary.encode_binary(args, spec), len(header)


def test_plain_statements_are_relayed_as_bytes_and_their_operations_indexed(clock: Clock) -> None:
    backend, router = make_backend(clock)
    handle = open_as(backend, ALICE)
    frame, offset = _statement_frame(handle)
    relay = FrameRelay(backend.sessions, ALICE)
    reply = relay.relay_frame("ExecuteStatement", frame, offset)
    assert reply is not None and router.clients[0].calls[-1] == ("relay_frame", frame)
    relay.after_reply()  # as the server does once the reply is sent
    operation = new_operation_handle(bytes(reply[0]))
    assert operation is not None
    assert backend.sessions.session_of_operation(ALICE, operation).handle == handle
    with pytest.raises(KyuubiSQLError, match="Invalid OperationHandle"):
        backend.sessions.session_of_operation(BOB, operation)


def test_statement_relay_declines_foreign_sessions_and_overlays(clock: Clock) -> None:
    backend, router = make_backend(clock)
    handle = open_as(backend, ALICE)
    frame, offset = _statement_frame(handle)
    # Another user's session: the decode path answers its usual invalid-handle error.
    assert FrameRelay(backend.sessions, BOB).relay_frame("ExecuteStatement", frame, offset) is None
    # An overlay goes through the decode path's conf checks.
    with_overlay, offset = _statement_frame(handle, {"spark.sql.shuffle.partitions": "3"})
    relay = FrameRelay(backend.sessions, ALICE)
    assert relay.relay_frame("ExecuteStatement", with_overlay, offset) is None
    assert [name for name, _ in router.clients[0].calls] == []
