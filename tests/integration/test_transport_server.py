"""ThriftServer over real loopback sockets: what SASL, NOSASL and misbehaving clients see.

Clients: thrift_sasl + pure-sasl (what pyhive and impyla use), our ThriftClientConnection, plain
TSocket + TBufferedTransport (NOSASL), and raw sockets for adversarial input
(reference/reliability.md section 4.1).
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import thrift_sasl
from pyhive.sasl_compat import PureSASLClient
from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport, TMemoryBuffer, TTransportException

from kyuubi_py.errors import AuthenticationError, ProtocolError
from kyuubi_py.protocol.dispatch import RawResponse, encode_message_header, parse_message_header
from kyuubi_py.protocol.tcli import V10, TCLIService, ttypes
from kyuubi_py.transport.client import ThriftClientConnection
from kyuubi_py.transport.server import LOCAL_SOCKETS, ConnectionContext, ThriftServer

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
GUID = bytes(range(0xF0, 0x100))
SESSION = ttypes.TSessionHandle(ttypes.THandleIdentifier(GUID, GUID))
OPERATION = ttypes.TOperationHandle(ttypes.THandleIdentifier(GUID, GUID), 0, True)
OK = ttypes.TStatus(ttypes.TStatusCode.SUCCESS_STATUS)
INFO = ttypes.TGetInfoReq(SESSION, ttypes.TGetInfoType.CLI_SERVER_NAME)
BIG_VALUES = list(range(1_000_000))  # a ~4 MB FetchResults reply


def authenticate(user: str, password: str) -> str:
    if user == "ldap-down":
        raise RuntimeError("LDAP server unreachable")
    if password != "secret":
        raise AuthenticationError("Error validating the login")
    return user.lower()


class FakeHandler:
    """A tiny TCLIService handler that reports who it serves."""

    def __init__(self, context: ConnectionContext, statements: list[str]) -> None:
        self.context = context
        self.statements = statements

    def OpenSession(self, req: Any) -> Any:
        configuration = {"user": str(self.context.user), "transport": self.context.transport}
        return ttypes.TOpenSessionResp(OK, V10, SESSION, configuration)

    def GetInfo(self, req: Any) -> Any:
        value = f"{self.context.user}/{self.context.transport}"
        return ttypes.TGetInfoResp(OK, ttypes.TGetInfoValue(stringValue=value))

    def ExecuteStatement(self, req: Any) -> Any:
        self.statements.append(req.statement)
        return ttypes.TExecuteStatementResp(OK, OPERATION)

    def GetOperationStatus(self, req: Any) -> Any:
        raise ValueError("handler bug")

    def FetchResults(self, req: Any) -> Any:
        results = ttypes.TRowSet(0, [], [ttypes.TColumn(i32Val=ttypes.TI32Column(BIG_VALUES, b""))])
        encoded = TCLIService.FetchResults_result(
            success=ttypes.TFetchResultsResp(OK, False, results)
        )
        body = fastbinary.encode_binary(encoded, [type(encoded), encoded.thrift_spec])
        # The struct bytes without the result wrapper (3-byte field header, 1-byte STOP), in
        # many parts so sendmsg has to cope with partial sends of a scattered reply.
        struct_bytes = memoryview(body)[3:-1]
        return RawResponse(
            [struct_bytes[i : i + 100_000] for i in range(0, len(struct_bytes), 100_000)]
        )


class Harness:
    """Starts servers and records every connection they open."""

    def __init__(self) -> None:
        self.contexts: list[ConnectionContext] = []
        self.statements: list[str] = []
        self.closed: list[int] = []
        self.closed_event = threading.Condition()
        self.servers: list[ThriftServer] = []

    def handler(self, context: ConnectionContext) -> FakeHandler:
        self.contexts.append(context)
        context.add_close_callback(lambda: self._on_close(context.connection_id))
        return FakeHandler(context, self.statements)

    def _on_close(self, connection_id: int) -> None:
        with self.closed_event:
            self.closed.append(connection_id)
            self.closed_event.notify_all()

    def wait_closed(self, count: int, timeout_s: float = 5.0) -> None:
        with self.closed_event:
            assert self.closed_event.wait_for(lambda: len(self.closed) >= count, timeout_s)

    def start(self, **overrides: Any) -> ThriftServer:
        options: dict[str, Any] = {
            "host": HOST,
            "port": 0,
            "handler_factory": self.handler,
            "authenticate": authenticate,
            "allow_nosasl": True,
            "max_message_size": 8 << 20,
            "max_workers": 50,
            "login_timeout_s": 5.0,
            "name": f"hs2-{uuid.uuid4().hex[:6]}",
        }
        options.update(overrides)
        server = ThriftServer(**options)
        server.start()
        self.servers.append(server)
        return server


@pytest.fixture
def harness() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    for server in harness.servers:
        server.stop(timeout_s=5)


@pytest.fixture
def server(harness: Harness) -> ThriftServer:
    return harness.start()


# --- client helpers ---


def thrift_sasl_client(
    port: int, user: str = "Alice", password: str = "secret"
) -> tuple[thrift_sasl.TSaslClientTransport, Any]:
    """What pyhive does for auth=NONE/LDAP: thrift_sasl PLAIN over a TSocket."""
    handle = TSocket(HOST, port)
    handle.setTimeout(5000)

    def sasl_factory() -> PureSASLClient:
        return PureSASLClient(HOST, mechanism="PLAIN", username=user, password=password)

    transport = thrift_sasl.TSaslClientTransport(sasl_factory, "PLAIN", handle)
    transport.open()
    return transport, TCLIService.Client(TBinaryProtocol(transport))


def nosasl_client(port: int) -> tuple[TBufferedTransport, Any]:
    """What pyhive auth=NOSASL and impyla's default do."""
    handle = TSocket(HOST, port)
    handle.setTimeout(5000)
    transport = TBufferedTransport(handle)
    transport.open()
    return transport, TCLIService.Client(TBinaryProtocol(transport))


def raw_socket(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.settimeout(5)
    return sock


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def sasl_message(status: int, payload: bytes) -> bytes:
    return struct.pack(">BI", status, len(payload)) + payload


def raw_login(sock: socket.socket, user: bytes = b"bob", password: bytes = b"secret") -> None:
    sock.sendall(sasl_message(1, b"PLAIN") + sasl_message(5, b"\0" + user + b"\0" + password))
    assert recv_exact(sock, 5) == b"\x05\x00\x00\x00\x00"


def read_sasl_reply(sock: socket.socket) -> tuple[int, bytes]:
    status, length = struct.unpack(">BI", recv_exact(sock, 5))
    return status, recv_exact(sock, length)


def send_frame(sock: socket.socket, message: bytes) -> None:
    sock.sendall(struct.pack(">I", len(message)) + message)


def read_frame(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    return recv_exact(sock, length)


def call_message(method: str, req: Any, seqid: int = 1) -> bytes:
    args = getattr(TCLIService, f"{method}_args")(req=req)
    return encode_message_header(method, TMessageType.CALL, seqid) + fastbinary.encode_binary(
        args, [type(args), type(args).thrift_spec]
    )


def getlog_message(seqid: int) -> bytes:
    """GetLog(TGetLogReq{1: TOperationHandle}) as pyhive sends it: binary GUIDs inside."""
    handle = ttypes.TGetOperationStatusReq(OPERATION)
    encoded = fastbinary.encode_binary(handle, [type(handle), type(handle).thrift_spec])
    return encode_message_header("GetLog", TMessageType.CALL, seqid) + (
        b"\x0c\x00\x01" + encoded[:-1] + b"\x00\x00"
    )


def reply_exception(message: bytes) -> tuple[str, int, TApplicationException]:
    name, message_type, seqid, offset = parse_message_header(message)
    assert message_type == TMessageType.EXCEPTION
    error = TApplicationException()
    error.read(TBinaryProtocol(TMemoryBuffer(message[offset:])))
    return name, seqid, error


def assert_closed(sock: socket.socket, within_s: float = 5.0) -> None:
    """The server closes the connection: EOF (or a reset) arrives within ``within_s``."""
    sock.settimeout(within_s)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> bool:
    return not any(record.exc_info for record in caplog.records)


# --- SASL ---


def test_thrift_sasl_client_logs_in_as_the_canonical_authcid(
    server: ThriftServer, harness: Harness
) -> None:
    transport, client = thrift_sasl_client(server.port, user="Alice")
    try:
        response = client.OpenSession(ttypes.TOpenSessionReq(V10, username="someone-else"))
        assert response.configuration == {"user": "alice", "transport": "SASL"}
        assert client.GetInfo(INFO).infoValue.stringValue == "alice/SASL"
    finally:
        transport.close()
    context = harness.contexts[0]
    assert (context.client_host, context.user, context.transport) == (HOST, "alice", "SASL")
    assert context.client_port > 0


def test_our_client_over_sasl(server: ThriftServer) -> None:
    with ThriftClientConnection(HOST, server.port, user="Bob", password="secret") as client:
        assert client.call("GetInfo", INFO).infoValue.stringValue == "bob/SASL"
        raw = client.call_raw("GetInfo", INFO)
        name, message_type, seqid, _ = parse_message_header(raw)
        assert (name, message_type, seqid) == ("GetInfo", TMessageType.REPLY, 2)
        assert b"bob/SASL" in raw


def test_large_scattered_reply_reaches_both_clients_intact(server: ThriftServer) -> None:
    req = ttypes.TFetchResultsReq(OPERATION, 0, 1000)
    with ThriftClientConnection(HOST, server.port, user="bob", password="secret") as client:
        response = client.call("FetchResults", req)
        assert response.results.columns[0].i32Val.values == BIG_VALUES
        raw = client.call_raw("FetchResults", req)
        assert len(raw) > 4_000_000
    transport, thrift_client = thrift_sasl_client(server.port)
    try:
        assert thrift_client.FetchResults(req).results.columns[0].i32Val.values == BIG_VALUES
    finally:
        transport.close()


def test_rejected_login_gets_bad_with_the_message_then_close(
    server: ThriftServer, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(TTransportException, match="Bad status: 3 .*Error validating the login"):
        thrift_sasl_client(server.port, password="wrong")
    with pytest.raises(AuthenticationError, match="^Error validating the login$"):
        ThriftClientConnection(HOST, server.port, user="bob", password="wrong")
    sock = raw_socket(server.port)
    sock.sendall(sasl_message(1, b"PLAIN") + sasl_message(2, b"\0bob\0wrong"))
    assert read_sasl_reply(sock) == (3, b"Error validating the login")
    assert_closed(sock)
    assert no_tracebacks(caplog)


def test_authenticator_failure_is_a_generic_bad_for_the_client(server: ThriftServer) -> None:
    with pytest.raises(AuthenticationError, match="^Error validating the login$"):
        ThriftClientConnection(HOST, server.port, user="ldap-down", password="secret")
    with ThriftClientConnection(HOST, server.port, user="bob", password="secret") as client:
        assert client.call("GetInfo", INFO).infoValue.stringValue == "bob/SASL"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", (4, b"Invalid status 71")),
        (b"\x00\x00\x00\x10\x80\x01\x00\x01", (4, b"Invalid status 0")),
        (b"\x02\x00\x00\x00\x03a\0b", (4, b"Invalid status 2")),
        (b"\x01\xff\xff\xff\xff", (4, b"Invalid payload header length: -1")),
        (b"\x01\x7f\xff\xff\xff", (4, b"Invalid payload header length: 2147483647")),
        (sasl_message(1, b"GSSAPI"), (3, b"Unsupported mechanism type GSSAPI")),
        (
            sasl_message(1, b"PLAIN") + sasl_message(5, b"a\0b\0c\0d"),
            (3, b"Invalid message format"),
        ),
        (sasl_message(1, b"PLAIN") + sasl_message(1, b"PLAIN"), (4, b"Invalid status 1")),
    ],
)
def test_sasl_garbage_gets_an_error_reply_then_close(
    server: ThriftServer,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    expected: tuple[int, bytes],
) -> None:
    sock = raw_socket(server.port)
    sock.sendall(data)
    assert read_sasl_reply(sock) == expected
    assert_closed(sock)
    assert no_tracebacks(caplog)
    with ThriftClientConnection(HOST, server.port, user="bob", password="secret") as client:
        assert client.call("GetInfo", INFO)


def test_nosasl_client_on_a_sasl_only_server_sees_invalid_status(harness: Harness) -> None:
    server = harness.start(allow_nosasl=False)
    sock = raw_socket(server.port)
    sock.sendall(call_message("OpenSession", ttypes.TOpenSessionReq(V10)))
    assert read_sasl_reply(sock) == (4, b"Invalid status -128")
    assert_closed(sock)


def test_sasl_client_on_a_nosasl_only_server_is_closed(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    server = harness.start(authenticate=None)
    sock = raw_socket(server.port)
    sock.sendall(sasl_message(1, b"PLAIN"))
    assert_closed(sock)
    assert no_tracebacks(caplog)
    assert any("SASL disabled" in record.getMessage() for record in caplog.records)


# --- NOSASL ---


def test_nosasl_buffered_client(server: ThriftServer, harness: Harness) -> None:
    transport, client = nosasl_client(server.port)
    try:
        response = client.OpenSession(ttypes.TOpenSessionReq(V10, username="carol"))
        assert response.configuration == {"user": "None", "transport": "NOSASL"}
        assert client.GetInfo(INFO).infoValue.stringValue == "None/NOSASL"
    finally:
        transport.close()
    assert (harness.contexts[0].user, harness.contexts[0].transport) == (None, "NOSASL")


def test_our_client_over_nosasl(server: ThriftServer) -> None:
    with ThriftClientConnection(HOST, server.port, sasl=False) as client:
        assert client.call("GetInfo", INFO).infoValue.stringValue == "None/NOSASL"
        raw = client.call_raw("GetInfo", INFO)
        assert parse_message_header(raw)[:3] == ("GetInfo", TMessageType.REPLY, 2)
        assert raw.endswith(b"None/NOSASL\x00\x00\x00")
        assert client.call("GetInfo", INFO)  # the stream is still in step after call_raw


def test_malformed_nosasl_stream_closes_only_that_connection(
    server: ThriftServer, caplog: pytest.LogCaptureFixture
) -> None:
    other = ThriftClientConnection(HOST, server.port, sasl=False)
    sock = raw_socket(server.port)
    # An ExecuteStatement whose confOverlay map claims 2^31-1 entries.
    sock.sendall(
        encode_message_header("ExecuteStatement", TMessageType.CALL, 1)
        + b"\x0c\x00\x01\x0d\x00\x03\x0b\x0b\x7f\xff\xff\xff"
    )
    assert_closed(sock)
    assert other.call("GetInfo", INFO).infoValue.stringValue == "None/NOSASL"
    other.close()
    assert no_tracebacks(caplog)


# --- unknown methods and malformed requests ---


def test_getlog_is_unknown_method_and_the_connection_keeps_working(server: ThriftServer) -> None:
    transport, client = thrift_sasl_client(server.port)
    try:
        protocol = TBinaryProtocol(transport)
        transport.write(getlog_message(seqid=0))
        transport.flush()
        name, message_type, seqid = protocol.readMessageBegin()
        error = TApplicationException()
        error.read(protocol)
        assert (name, message_type, seqid) == ("GetLog", TMessageType.EXCEPTION, 0)
        assert error.type == TApplicationException.UNKNOWN_METHOD == 1
        assert error.message == "Invalid method name: 'GetLog'"
        assert client.GetInfo(INFO).infoValue.stringValue == "alice/SASL"
    finally:
        transport.close()


def test_getlog_over_nosasl_is_skipped_binary_safely(server: ThriftServer) -> None:
    transport, client = nosasl_client(server.port)
    try:
        protocol = TBinaryProtocol(transport)
        transport.write(getlog_message(seqid=5))
        transport.flush()
        name, message_type, seqid = protocol.readMessageBegin()
        error = TApplicationException()
        error.read(protocol)
        assert (name, seqid, error.type) == ("GetLog", 5, TApplicationException.UNKNOWN_METHOD)
        assert client.GetInfo(INFO).infoValue.stringValue == "None/NOSASL"
    finally:
        transport.close()


def test_method_the_handler_lacks_raises_application_exception(server: ThriftServer) -> None:
    with ThriftClientConnection(HOST, server.port, user="bob", password="secret") as client:
        with pytest.raises(TApplicationException) as caught:
            client.call("GetTypeInfo", ttypes.TGetTypeInfoReq(SESSION))
        assert caught.value.type == TApplicationException.UNKNOWN_METHOD
        with pytest.raises(TApplicationException) as caught:
            client.call("GetOperationStatus", ttypes.TGetOperationStatusReq(OPERATION))
        assert caught.value.type == TApplicationException.INTERNAL_ERROR
        assert "handler bug" in caught.value.message
        assert client.call("GetInfo", INFO).infoValue.stringValue == "bob/SASL"


def test_invalid_utf8_in_a_framed_request_is_answered_and_the_connection_survives(
    server: ThriftServer, harness: Harness
) -> None:
    sock = raw_socket(server.port)
    raw_login(sock)
    statement = call_message(
        "ExecuteStatement", ttypes.TExecuteStatementReq(SESSION, "SELECT 'xx'")
    )
    send_frame(sock, statement.replace(b"'xx'", b"'\xff\xfe'"))
    name, seqid, error = reply_exception(read_frame(sock))
    assert (name, seqid, error.type) == (
        "ExecuteStatement",
        1,
        TApplicationException.PROTOCOL_ERROR,
    )
    assert "invalid UTF-8" in error.message
    send_frame(sock, call_message("GetInfo", INFO, seqid=2))
    assert parse_message_header(read_frame(sock))[:3] == ("GetInfo", TMessageType.REPLY, 2)
    assert harness.statements == []
    sock.close()


def test_invalid_utf8_on_a_nosasl_stream_closes_that_connection_unexecuted(
    server: ThriftServer, harness: Harness
) -> None:
    sock = raw_socket(server.port)
    statement = call_message(
        "ExecuteStatement", ttypes.TExecuteStatementReq(SESSION, "SELECT 'xx'")
    )
    sock.sendall(statement.replace(b"'xx'", b"'\xff\xfe'"))
    assert_closed(sock)
    assert harness.statements == []
    transport, client = nosasl_client(server.port)
    try:
        assert client.GetInfo(INFO).infoValue.stringValue == "None/NOSASL"
    finally:
        transport.close()


def test_oversized_frame_closes_that_connection_only(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    server = harness.start(max_message_size=1024)
    other = ThriftClientConnection(HOST, server.port, user="bob", password="secret")
    for declared in (1025, 0xFFFFFFFF):
        sock = raw_socket(server.port)
        raw_login(sock)
        sock.sendall(struct.pack(">I", declared))  # the header alone: nothing is awaited
        assert_closed(sock, within_s=2)
        message = (
            f"frame of {declared} bytes exceeds kyuubi.frontend.thrift.max.message.size (1024)"
        )
        assert any(message in record.getMessage() for record in caplog.records)
    assert other.call("GetInfo", INFO).infoValue.stringValue == "bob/SASL"
    other.close()
    assert no_tracebacks(caplog)


def test_unusable_message_header_closes_the_connection(server: ThriftServer) -> None:
    sock = raw_socket(server.port)
    raw_login(sock)
    send_frame(sock, b"\x00\x00\x00\x07GetInfo\x01\x00\x00\x00\x01\x00")  # non-strict header
    assert_closed(sock)


# --- connection lifecycle ---


def test_close_callbacks_run_once_on_client_disconnect(
    server: ThriftServer, harness: Harness
) -> None:
    client = ThriftClientConnection(HOST, server.port, user="bob", password="secret")
    transport, nosasl = nosasl_client(server.port)
    assert nosasl.GetInfo(INFO)  # a NOSASL connection is identified by its first message
    client.close()
    transport.close()
    harness.wait_closed(2)
    assert sorted(harness.closed) == sorted(context.connection_id for context in harness.contexts)
    time.sleep(0.05)
    assert len(harness.closed) == 2


def test_stop_disconnects_clients_runs_callbacks_and_joins_threads(harness: Harness) -> None:
    server = harness.start()
    idle = ThriftClientConnection(HOST, server.port, user="bob", password="secret")
    transport, nosasl = nosasl_client(server.port)
    silent = raw_socket(server.port)  # connected, never logs in
    assert idle.call("GetInfo", INFO)
    assert nosasl.GetInfo(INFO)
    server.stop(timeout_s=5)
    assert sorted(harness.closed) == sorted(context.connection_id for context in harness.contexts)
    assert len(harness.closed) == 2
    with pytest.raises(TTransportException):
        idle.call("GetInfo", INFO)
    assert_closed(silent, within_s=2)
    transport.close()
    leftover = [
        thread.name for thread in threading.enumerate() if thread.name.startswith(server.name)
    ]
    assert leftover == []
    with pytest.raises(OSError):
        socket.create_connection((HOST, server.port), timeout=1).recv(1)


def test_callback_added_after_close_runs_immediately() -> None:
    context = ConnectionContext(1, HOST, 1, None, "NOSASL")
    context._close()
    ran: list[bool] = []
    context.add_close_callback(lambda: ran.append(True))
    assert ran == [True]


def test_failing_close_callback_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = ConnectionContext(1, HOST, 1, "bob", "SASL")
    ran: list[int] = []
    context.add_close_callback(lambda: 1 / 0)
    context.add_close_callback(lambda: ran.append(2))
    context._close()
    context._close()
    assert ran == [2]
    assert any(record.exc_info for record in caplog.records)


def test_handler_factory_failure_closes_only_that_connection(harness: Harness) -> None:
    calls: list[int] = []

    def flaky(context: ConnectionContext) -> FakeHandler:
        calls.append(context.connection_id)
        if len(calls) == 1:
            raise RuntimeError("cannot open a session store")
        return harness.handler(context)

    server = harness.start(handler_factory=flaky)
    sock = raw_socket(server.port)
    raw_login(sock)
    assert_closed(sock)
    with ThriftClientConnection(HOST, server.port, user="bob", password="secret") as client:
        assert client.call("GetInfo", INFO)


# --- timeouts and limits ---


def test_login_timeout_closes_a_silent_connection(harness: Harness) -> None:
    server = harness.start(login_timeout_s=0.3)
    sock = raw_socket(server.port)
    started = time.monotonic()
    assert_closed(sock, within_s=5)
    assert 0.25 <= time.monotonic() - started < 3
    with ThriftClientConnection(HOST, server.port, user="bob", password="secret") as client:
        assert client.call("GetInfo", INFO)


def test_login_timeout_bounds_the_whole_negotiation_not_each_read(harness: Harness) -> None:
    server = harness.start(login_timeout_s=0.5)
    sock = raw_socket(server.port)
    sock.sendall(b"\x01\x00\x00\x03\xe8")  # START declaring 1000 bytes, then a dribble
    started = time.monotonic()
    closed = False
    while not closed and time.monotonic() - started < 4:
        try:
            sock.send(b"P")
            readable, _, _ = select.select([sock], [], [], 0.1)
            closed = bool(readable) and sock.recv(100) == b""
        except OSError:
            closed = True
    assert closed
    assert 0.4 <= time.monotonic() - started < 2


def test_after_login_idle_clients_are_not_timed_out(harness: Harness) -> None:
    server = harness.start(login_timeout_s=0.2)
    with ThriftClientConnection(HOST, server.port, user="bob", password="secret") as client:
        time.sleep(0.5)
        assert client.call("GetInfo", INFO)


def connection_threads(server: ThriftServer) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"{server.name}-conn-")]


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_idle_connections_give_up_their_threads_and_are_served_again(harness: Harness) -> None:
    server = harness.start(idle_thread_keepalive_s=0.1)
    clients = [
        ThriftClientConnection(HOST, server.port, user=user, password="secret")
        for user in ("bob", "eve", "dan")
    ]
    try:
        for client in clients:
            client.call("ExecuteStatement", ttypes.TExecuteStatementReq(SESSION, "first"))
        wait_for(lambda: connection_threads(server) == [])
        assert server.connection_count == 3 and harness.closed == []
        # Each comes back to its own handler: same login, same connection id, state kept.
        for client, user in zip(clients, ("bob", "eve", "dan"), strict=True):
            assert client.call("GetInfo", INFO).infoValue.stringValue == f"{user}/SASL"
            client.call("ExecuteStatement", ttypes.TExecuteStatementReq(SESSION, "second"))
        assert len(harness.contexts) == 3
        assert sorted(harness.statements) == ["first"] * 3 + ["second"] * 3
        # An idle client that leaves ends its connection as an active one does.
        wait_for(lambda: connection_threads(server) == [])
        clients[0].close()
        harness.wait_closed(1)
        assert harness.closed == [harness.contexts[0].connection_id]
    finally:
        for client in clients:
            client.close()


def test_a_frame_that_stalls_midway_is_not_taken_for_an_idle_client(harness: Harness) -> None:
    server = harness.start(idle_thread_keepalive_s=0.1)
    sock = raw_socket(server.port)
    raw_login(sock)
    message = call_message("GetInfo", INFO)
    framed = struct.pack(">I", len(message)) + message
    for part in (framed[:2], framed[2:10], framed[10:]):  # header split too
        sock.sendall(part)
        time.sleep(0.3)
    name, _, _, _ = parse_message_header(read_frame(sock))
    assert name == "GetInfo"
    # Two requests in one write: the second waits in the reader's buffer, not on the socket.
    sock.sendall(framed + framed)
    assert len([read_frame(sock), read_frame(sock)]) == 2
    sock.close()
    harness.wait_closed(1)


def test_stop_ends_idle_connections_and_runs_their_callbacks(harness: Harness) -> None:
    server = harness.start(idle_thread_keepalive_s=0.1)
    idle = ThriftClientConnection(HOST, server.port, user="bob", password="secret")
    assert idle.call("GetInfo", INFO)
    wait_for(lambda: connection_threads(server) == [])
    server.stop(timeout_s=5)
    assert harness.closed == [harness.contexts[0].connection_id]
    assert server.connection_count == 0
    with pytest.raises(TTransportException):
        idle.call("GetInfo", INFO)
    idle.close()
    assert [t for t in threading.enumerate() if t.name.startswith(server.name)] == []


def test_a_failing_idle_watcher_gives_its_connections_their_threads_back(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = harness.start(idle_thread_keepalive_s=0.1)
    first = ThriftClientConnection(HOST, server.port, user="bob", password="secret")
    wait_for(lambda: connection_threads(server) == [])
    selector = server._idle._selector  # fault injection: the next select fails

    def broken_select(timeout: float | None = None) -> Any:
        raise OSError("selector broke")

    monkeypatch.setattr(selector, "select", broken_select)
    second = ThriftClientConnection(HOST, server.port, user="eve", password="secret")
    # The second going idle wakes the watcher, which fails: both keep a thread from now on.
    wait_for(lambda: len(connection_threads(server)) == 2)
    assert "idle connection watcher failed" in caplog.text
    time.sleep(0.3)  # idle for longer than the keep-alive, with no watcher
    for client, user in ((first, "bob"), (second, "eve")):
        assert client.call("GetInfo", INFO).infoValue.stringValue == f"{user}/SASL"
        client.close()
    harness.wait_closed(2)
    assert len(connection_threads(server)) == 0


def test_idle_connections_keep_their_worker_slot(harness: Harness) -> None:
    """``max_workers`` still bounds connections: an idle one holds its slot."""
    server = harness.start(max_workers=1, idle_thread_keepalive_s=0.1)
    first = ThriftClientConnection(HOST, server.port, user="bob", password="secret")
    wait_for(lambda: connection_threads(server) == [])
    second = raw_socket(server.port)
    second.settimeout(0.5)
    with pytest.raises(TimeoutError):
        raw_login(second)  # in the backlog: no answer while the first is connected
    first.close()
    second.settimeout(5)
    assert read_sasl_reply(second)[0] == 5  # COMPLETE once the slot is free
    second.close()


@pytest.mark.skipif(not LOCAL_SOCKETS, reason="abstract Unix sockets are Linux only")
def test_local_clients_may_connect_over_the_abstract_unix_socket(harness: Harness) -> None:
    name = f"kyuubi_py-test-{uuid.uuid4()}"
    server = harness.start(local_socket_name=name)
    assert server.local_socket_name == name
    client = ThriftClientConnection(
        "unused.invalid", 1, user="bob", password="secret", local_socket=name
    )
    with client:
        assert client._sock.family == socket.AF_UNIX
        assert client.call("GetInfo", INFO).infoValue.stringValue == "bob/SASL"
    assert harness.contexts[-1].client_host == "localhost"
    # Where nothing listens under that name (a server on another host), TCP is used.
    with ThriftClientConnection(
        HOST, server.port, user="eve", password="secret", local_socket=f"{name}-gone"
    ) as tcp_client:
        assert tcp_client._sock.family == socket.AF_INET
        assert tcp_client.call("GetInfo", INFO).infoValue.stringValue == "eve/SASL"
    server.stop(timeout_s=5)
    probe = socket.socket(socket.AF_UNIX)
    with pytest.raises(ConnectionRefusedError):
        probe.connect(f"\0{name}")
    probe.close()


def test_a_taken_local_socket_name_leaves_the_server_on_tcp(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"kyuubi_py-test-{uuid.uuid4()}"
    first = harness.start(local_socket_name=name)
    second = harness.start(local_socket_name=name)
    assert first.local_socket_name == name and second.local_socket_name is None
    assert "no local socket" in caplog.text
    with ThriftClientConnection(HOST, second.port, user="bob", password="secret") as client:
        assert client.call("GetInfo", INFO)


def test_excess_clients_wait_in_the_backlog_for_a_worker(harness: Harness) -> None:
    server = harness.start(max_workers=1)
    first = ThriftClientConnection(HOST, server.port, user="bob", password="secret")
    result: list[str] = []

    def second_client() -> None:
        with ThriftClientConnection(HOST, server.port, user="eve", password="secret") as client:
            result.append(client.call("GetInfo", INFO).infoValue.stringValue)

    waiter = threading.Thread(target=second_client, name="second-client")
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and result == []  # accepted by the kernel, not yet served
    first.close()
    waiter.join(5)
    assert result == ["eve/SASL"]


def test_two_hundred_concurrent_connections(harness: Harness) -> None:
    server = harness.start(max_workers=250)
    clients = [
        ThriftClientConnection(HOST, server.port, user=f"user{i}", password="secret", timeout_s=10)
        for i in range(200)
    ]
    try:
        assert server.connection_count == 200

        def call(index: int) -> str:
            return str(clients[index].call("GetInfo", INFO).infoValue.stringValue)

        with ThreadPoolExecutor(max_workers=50, thread_name_prefix="hs2-load") as pool:
            answers = list(pool.map(call, range(200)))
        assert answers == [f"user{i}/SASL" for i in range(200)]
    finally:
        for client in clients:
            client.close()
    harness.wait_closed(200, timeout_s=10)


def test_logs_of_client_mistakes_have_no_traceback(
    server: ThriftServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for data in (b"\x80\x01\x00\x01garbage", b"\xff" * 10, b"\x01\x00"):
        sock = raw_socket(server.port)
        sock.sendall(data)
        sock.close()
    sock = raw_socket(server.port)
    raw_login(sock)
    sock.sendall(b"\x00\x00")
    sock.close()
    time.sleep(0.2)
    assert no_tracebacks(caplog)


# --- ThriftClientConnection against scripted servers ---


@contextmanager
def scripted_server(script: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection server running ``script`` on the accepted socket; yields its port."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(5)

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(5)
            try:
                script(connection)
            except OSError:
                pass  # the client went away first

    thread = threading.Thread(target=serve, name="scripted-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(5)


def accept_login(sock: socket.socket) -> None:
    assert read_sasl_reply(sock) == (1, b"PLAIN")
    assert read_sasl_reply(sock) == (5, b"\0bob\0secret")
    sock.sendall(b"\x05\x00\x00\x00\x00")


def info_reply(seqid: int, name: str = "GetInfo") -> bytes:
    result = TCLIService.GetInfo_result(
        success=ttypes.TGetInfoResp(OK, ttypes.TGetInfoValue(stringValue="scripted"))
    )
    body = fastbinary.encode_binary(result, [type(result), result.thrift_spec])
    return encode_message_header(name, TMessageType.REPLY, seqid) + body


def wait_for_eof(sock: socket.socket) -> None:
    sock.settimeout(5)
    while sock.recv(65536):
        pass


def test_client_reads_a_reply_split_across_frames() -> None:
    def script(sock: socket.socket) -> None:
        accept_login(sock)
        seqid = parse_message_header(read_frame(sock))[2]
        reply = info_reply(seqid)
        for piece in (reply[:3], reply[3:40], reply[40:]):
            send_frame(sock, piece)
        wait_for_eof(sock)

    with scripted_server(script) as port:
        with ThriftClientConnection(HOST, port, user="bob", password="secret") as client:
            assert client.call("GetInfo", INFO).infoValue.stringValue == "scripted"


@pytest.mark.parametrize("reply", [info_reply(99), info_reply(1, name="GetCatalogs")])
def test_client_closes_on_a_reply_that_is_not_for_its_call(reply: bytes) -> None:
    def script(sock: socket.socket) -> None:
        accept_login(sock)
        read_frame(sock)
        send_frame(sock, reply)
        wait_for_eof(sock)

    with scripted_server(script) as port:
        client = ThriftClientConnection(HOST, port, user="bob", password="secret")
        with pytest.raises(ProtocolError):
            client.call("GetInfo", INFO)
        assert not client.is_open
        with pytest.raises(TTransportException) as caught:
            client.call("GetInfo", INFO)
        assert caught.value.type == TTransportException.NOT_OPEN


def test_client_timeout_closes_the_connection() -> None:
    def script(sock: socket.socket) -> None:
        accept_login(sock)
        wait_for_eof(sock)  # never answers

    with scripted_server(script) as port:
        client = ThriftClientConnection(HOST, port, user="bob", password="secret", timeout_s=0.2)
        started = time.monotonic()
        with pytest.raises(TTransportException) as caught:
            client.call("GetInfo", INFO)
        assert caught.value.type == TTransportException.TIMED_OUT
        assert time.monotonic() - started < 2
        assert not client.is_open


def test_client_login_is_bounded_by_the_connect_timeout() -> None:
    with scripted_server(wait_for_eof) as port:
        started = time.monotonic()
        with pytest.raises(TTransportException):
            ThriftClientConnection(HOST, port, user="bob", password="secret", connect_timeout_s=0.3)
        assert time.monotonic() - started < 2


def test_close_from_another_thread_ends_a_blocked_call() -> None:
    def script(sock: socket.socket) -> None:
        accept_login(sock)
        wait_for_eof(sock)

    with scripted_server(script) as port:
        client = ThriftClientConnection(HOST, port, user="bob", password="secret")
        errors: list[BaseException] = []

        def blocked_call() -> None:
            try:
                client.call("GetInfo", INFO)
            except BaseException as exc:  # recorded for the assertion below
                errors.append(exc)

        caller = threading.Thread(target=blocked_call, name="blocked-call")
        caller.start()
        time.sleep(0.2)
        client.close()
        caller.join(5)
        assert not caller.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], TTransportException)


def test_client_connect_refused_is_a_transport_error() -> None:
    with socket.create_server((HOST, 0)) as probe:
        port = probe.getsockname()[1]  # free once the probe closes
    with pytest.raises(TTransportException) as caught:
        ThriftClientConnection(HOST, port, user="bob", password="secret", connect_timeout_s=1)
    assert caught.value.type == TTransportException.NOT_OPEN
    assert isinstance(caught.value.inner, ConnectionRefusedError)  # the gateway keys on this
