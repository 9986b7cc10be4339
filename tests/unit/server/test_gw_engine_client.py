"""EngineClient: error mapping, the broken state, raw relay (a fake connection; loopback only for
the connect errors)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from thrift.Thrift import TApplicationException
from thrift.transport.TTransport import TTransportException

from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.protocol.dispatch import RawMessage
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.status import error_status, ok_status
from kyuubi_py.protocol.tcli import ttypes
from kyuubi_py.server.engine_client import ConnectionPool, EngineClient, connect_engine
from kyuubi_py.server.engine_manager import EngineUnavailableError, StaleEngineError

pytestmark = pytest.mark.timeout(30)


class FakeConnection:
    def __init__(self, reply: Any = None, error: BaseException | None = None) -> None:
        self.reply = reply
        self.error = error
        self.closed = False
        self.calls: list[str] = []

    def call(self, method: str, req: Any) -> Any:
        self.calls.append(method)
        if self.error is not None:
            raise self.error
        return self.reply

    def call_raw(self, method: str, req: Any) -> bytes:
        self.calls.append(method)
        if self.error is not None:
            raise self.error
        return b"raw-reply"

    def close(self) -> None:
        self.closed = True


def client(connection: FakeConnection) -> EngineClient:
    return EngineClient(connection, "127.0.0.1:1")  # type: ignore[arg-type]


def test_relay_returns_the_raw_reply() -> None:
    relayed = client(FakeConnection()).relay("FetchResults", ttypes.TFetchResultsReq())
    assert isinstance(relayed, RawMessage) and list(relayed.parts) == [b"raw-reply"]


def test_engine_error_status_becomes_its_sql_error() -> None:
    failed = ttypes.TExecuteStatementResp(status=error_status(KyuubiSQLError("no table", "42P01")))
    with pytest.raises(KyuubiSQLError, match="no table") as info:
        client(FakeConnection(failed)).new_operation(
            "ExecuteStatement", ttypes.TExecuteStatementReq()
        )
    assert info.value.sql_state == "42P01"


def test_new_operation_returns_the_engines_handle() -> None:
    handle = OperationHandle()
    resp = ttypes.TExecuteStatementResp(status=ok_status(), operationHandle=handle.to_thrift())
    got = client(FakeConnection(resp)).new_operation("ExecuteStatement", None)
    assert got == handle


def test_transport_failure_breaks_the_client_for_good() -> None:
    connection = FakeConnection(error=TTransportException(TTransportException.END_OF_FILE, "eof"))
    engine = client(connection)
    with pytest.raises(KyuubiSQLError, match="no longer reachable") as info:
        engine.relay("GetOperationStatus", None)
    assert info.value.sql_state == "08S01" and "open a new session" in info.value.message
    assert engine.broken and connection.closed
    connection.error = None
    with pytest.raises(KyuubiSQLError, match="no longer reachable"):
        engine.call("GetInfo", None)  # no second call reaches the (closed) connection
    assert connection.calls == ["GetOperationStatus"]


def test_application_exception_does_not_break_the_client() -> None:
    connection = FakeConnection(error=TApplicationException(1, "Invalid method name"))
    engine = client(connection)
    with pytest.raises(KyuubiSQLError, match="Invalid method name"):
        engine.call("GetQueryId", None)
    assert not engine.broken


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_is_a_stale_engine() -> None:
    with pytest.raises(StaleEngineError, match="refused"):
        connect_engine(
            "127.0.0.1", _free_port(), user="u", secret="s", connect_timeout_s=2, timeout_s=2
        )


def test_hang_up_in_the_handshake_is_retryable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def hang_up() -> None:
            conn, _ = listener.accept()
            conn.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        with pytest.raises(EngineUnavailableError) as info:
            connect_engine(
                "127.0.0.1",
                listener.getsockname()[1],
                user="u",
                secret="s",
                connect_timeout_s=2,
                timeout_s=2,
            )
        thread.join()
    assert not isinstance(info.value, StaleEngineError)


def test_silent_engine_times_out_in_the_handshake() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts (backlog) but never answers: a stopped engine
        started = time.monotonic()
        with pytest.raises(EngineUnavailableError, match="timed out"):
            connect_engine(
                "127.0.0.1",
                listener.getsockname()[1],
                user="u",
                secret="s",
                connect_timeout_s=0.5,
                timeout_s=None,
            )
    assert time.monotonic() - started < 5


class PoolableConnection(FakeConnection):
    def __init__(self, reply: Any = None) -> None:
        super().__init__(reply)
        self._sock, self.peer = socket.socketpair()

    @property
    def is_open(self) -> bool:
        return not self.closed

    def close(self) -> None:
        super().close()
        self._sock.close()


def test_a_cleanly_closed_session_pools_its_connection() -> None:
    pool = ConnectionPool()
    key = ("127.0.0.1", 1, "alice", "secret")
    connection = PoolableConnection(ttypes.TCloseSessionResp(status=ok_status()))
    engine = EngineClient(connection, "127.0.0.1:1", pool_key=key, pool=pool)  # type: ignore[arg-type]
    engine.close_session(SessionHandle())
    engine.close()
    assert not connection.closed and len(pool) == 1
    assert pool.take(key) is connection
    assert pool.take(key) is None


def test_unclean_or_dead_connections_are_not_reused() -> None:
    pool = ConnectionPool()
    key = ("127.0.0.1", 1, "alice", "secret")
    unclean = PoolableConnection(ttypes.TCloseSessionResp(status=ok_status()))
    EngineClient(unclean, "127.0.0.1:1", pool_key=key, pool=pool).close()  # type: ignore[arg-type]
    assert unclean.closed and len(pool) == 0
    dead = PoolableConnection()
    pool.put(key, dead)  # type: ignore[arg-type]
    dead.peer.close()  # the engine hung up while the connection was idle
    assert pool.take(key) is None and dead.closed


def test_the_pool_is_bounded() -> None:
    pool = ConnectionPool(per_key=2, total=3)
    connections = [PoolableConnection() for _ in range(5)]
    for index, connection in enumerate(connections):
        pool.put(("h", 1, f"user{index % 2}", "s"), connection)  # type: ignore[arg-type]
    assert len(pool) == 3
    assert sum(c.closed for c in connections) == 2
    pool.clear()
    assert all(c.closed for c in connections)
