"""The gateway's connection to one engine, for one gateway session.

SASL PLAIN with the session user as user (the engine's session user and ``current_user()``) and
the engine secret as password. Small replies (OpenSession, ExecuteStatement, metadata calls) are
decoded and checked with :func:`raise_for_status`; status polls, fetches, cancel, close and
GetInfo are relayed as the engine's raw reply bytes (:meth:`EngineClient.relay`).

When the connection fails the client is *broken*: the stream is out of step or the engine is
gone, so every later call fails at once with the same clear error, and only this session is
affected.

Authenticated connections are pooled per (engine address, user, secret): closing a client right
after a successful CloseSession parks its connection in :data:`IDLE_CONNECTIONS`, and the next
:func:`connect_engine` of that user to that engine takes it (no TCP connect, no SASL login)
after checking that the engine has not hung up. Broken clients are never pooled; the pool is
bounded.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from thrift.Thrift import TApplicationException
from thrift.transport.TTransport import TTransportException

from kyuubi_py.errors import AuthenticationError, KyuubiSQLError, ProtocolError
from kyuubi_py.protocol.dispatch import RawMessage
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.status import raise_for_status
from kyuubi_py.protocol.tcli import ttypes
from kyuubi_py.server.engine_manager import EngineUnavailableError, StaleEngineError
from kyuubi_py.transport.client import ThriftClientConnection

log = logging.getLogger(__name__)

#: SQL state of "connection failure" (the engine behind the session is gone).
CONNECTION_FAILURE_SQL_STATE = "08S01"


def _unreachable(address: str, detail: str) -> KyuubiSQLError:
    return KyuubiSQLError(
        f"The engine of this session is no longer reachable ({address}: {detail}); "
        "open a new session",
        CONNECTION_FAILURE_SQL_STATE,
    )


def _is_refused(exc: TTransportException) -> bool:
    return isinstance(getattr(exc, "inner", None), ConnectionRefusedError)


PoolKey = tuple[str, int, str, str]


class ConnectionPool:
    """Idle authenticated engine connections, at most ``per_key`` per key and ``total`` in all
    (the least recently parked go first)."""

    def __init__(self, per_key: int = 8, total: int = 256) -> None:
        self._per_key = per_key
        self._total = total
        self._idle: OrderedDict[PoolKey, list[ThriftClientConnection]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def take(self, key: PoolKey) -> ThriftClientConnection | None:
        """A live idle connection of ``key``; dead ones found on the way are closed."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                connection = idle.pop()
                self._count -= 1
                if not idle:
                    del self._idle[key]
            if _still_open(connection):
                return connection
            connection.close()

    def put(self, key: PoolKey, connection: ThriftClientConnection) -> None:
        evicted: list[ThriftClientConnection] = []
        with self._lock:
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            idle.append(connection)
            self._count += 1
            if len(idle) > self._per_key:
                evicted.append(idle.pop(0))
                self._count -= 1
            while self._count > self._total:
                oldest_key, oldest = next(iter(self._idle.items()))
                evicted.append(oldest.pop(0))
                self._count -= 1
                if not oldest:
                    del self._idle[oldest_key]
        for stale in evicted:
            stale.close()

    def clear(self) -> None:
        with self._lock:
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
            self._count = 0
        for connection in idle:
            connection.close()


def _still_open(connection: ThriftClientConnection) -> bool:
    """Nothing to read and no EOF: an idle connection the engine has not closed (a stopped
    engine's connections read EOF, anything else would be out of step)."""
    if not connection.is_open:
        return False
    sock: socket.socket = connection._sock  # noqa: SLF001 - a peek, the stream is untouched
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


#: The gateway's idle engine connections.
IDLE_CONNECTIONS = ConnectionPool()


def connect_engine(
    host: str,
    port: int,
    *,
    user: str,
    secret: str,
    connect_timeout_s: float,
    timeout_s: float | None,
    local_socket: str | None = None,
) -> EngineClient:
    """Connect and authenticate within ``connect_timeout_s`` (a hung engine must not hang the
    session being opened); later calls wait ``timeout_s`` (``None``: no limit).
    :class:`StaleEngineError` when nothing listens there. Reuses an idle pooled connection of
    ``user`` to this engine when there is one. ``local_socket``: the engine's abstract Unix
    socket, used instead of TCP when the engine runs on this host."""
    key = (host, port, user, secret)
    pooled = IDLE_CONNECTIONS.take(key)
    if pooled is not None:
        pooled.set_timeout(timeout_s)
        return EngineClient(pooled, f"{host}:{port}", pool_key=key)
    try:
        connection = ThriftClientConnection(
            host,
            port,
            user=user,
            password=secret,
            sasl=True,
            connect_timeout_s=connect_timeout_s,
            timeout_s=connect_timeout_s,
            local_socket=local_socket,
        )
    except (TTransportException, AuthenticationError, ProtocolError, OSError) as exc:
        raise _connect_error(f"{host}:{port}", exc) from None
    connection.set_timeout(timeout_s)
    return EngineClient(connection, f"{host}:{port}", pool_key=key)


def _connect_error(address: str, exc: Exception) -> KyuubiSQLError:
    if isinstance(exc, TTransportException) and _is_refused(exc):
        return StaleEngineError(f"connection to {address} refused", CONNECTION_FAILURE_SQL_STATE)
    if isinstance(exc, AuthenticationError):
        # Another deployment's engine, or one started with another secret: never ours to use.
        return KyuubiSQLError(
            f"The engine at {address} refused the gateway's credentials ({exc}); it was started "
            "with another engine secret",
            CONNECTION_FAILURE_SQL_STATE,
        )
    message = f"Cannot connect to the engine at {address}: {exc}"
    if isinstance(exc, ProtocolError):
        return KyuubiSQLError(message, CONNECTION_FAILURE_SQL_STATE)
    # A reset or timeout in the handshake: the engine may be stopping; another attempt decides.
    return EngineUnavailableError(message, CONNECTION_FAILURE_SQL_STATE)


class EngineClient:
    def __init__(
        self,
        connection: ThriftClientConnection,
        address: str,
        *,
        pool_key: PoolKey | None = None,
        pool: ConnectionPool | None = None,
    ) -> None:
        self._connection = connection
        self.address = address
        self.broken_reason: str | None = None
        self._pool_key = pool_key
        self._pool = IDLE_CONNECTIONS if pool is None else pool
        #: Set by a successful CloseSession, cleared by any other call: the connection is idle
        #: and in step, so :meth:`close` may pool it.
        self._reusable = False

    @property
    def broken(self) -> bool:
        return self.broken_reason is not None

    def close(self) -> None:
        """Close the client; its connection goes back to the pool when it is idle and sound."""
        reusable, self._reusable = self._reusable, False
        if (
            reusable
            and self._pool_key is not None
            and self.broken_reason is None
            and self._connection.is_open
        ):
            self._pool.put(self._pool_key, self._connection)
        else:
            self._connection.close()

    # -- calls ---------------------------------------------------------------------------------
    def call(self, method: str, req: Any) -> Any:
        """A decoded call; transport failures break the client."""
        self._check_usable()
        self._reusable = False
        try:
            return self._connection.call(method, req)
        except TApplicationException as exc:
            raise KyuubiSQLError(f"The engine failed {method}: {exc}", "HY000") from None
        except (TTransportException, ProtocolError, OSError) as exc:
            raise self._break(method, exc) from None

    def relay(self, method: str, req: Any) -> RawMessage:
        """The engine's reply message to ``method``, undecoded."""
        self._check_usable()
        self._reusable = False
        try:
            return RawMessage([self._connection.call_raw(method, req)])
        except (TTransportException, ProtocolError, OSError) as exc:
            raise self._break(method, exc) from None

    def relay_frame(self, message: bytes, header_length: int) -> bytes | None:
        """Forward a client's encoded CALL unchanged; the engine's reply bytes, or ``None`` when
        the connection is (or just became) broken, so the caller answers through the decode
        path and its "unreachable" error."""
        if self.broken_reason is not None:
            return None
        self._reusable = False
        try:
            return self._connection.call_frame(message, header_length)
        except (TTransportException, ProtocolError, OSError) as exc:
            self._break("a relayed call", exc)
            return None

    def _check_usable(self) -> None:
        if self.broken_reason is not None:
            raise _unreachable(self.address, self.broken_reason)

    def _break(self, method: str, exc: BaseException) -> KyuubiSQLError:
        self.broken_reason = str(exc) or type(exc).__name__
        log.warning("Engine %s failed during %s: %s", self.address, method, self.broken_reason)
        self._connection.close()
        return _unreachable(self.address, self.broken_reason)

    # -- typed helpers -------------------------------------------------------------------------
    def open_session(
        self, protocol: int, user: str, configuration: Mapping[str, str]
    ) -> ttypes.TOpenSessionResp:
        req = ttypes.TOpenSessionReq(
            client_protocol=protocol, username=user, configuration=dict(configuration)
        )
        resp = self.call("OpenSession", req)
        raise_for_status(resp.status)
        return resp

    def close_session(self, handle: SessionHandle) -> None:
        resp = self.call("CloseSession", ttypes.TCloseSessionReq(sessionHandle=handle.to_thrift()))
        raise_for_status(resp.status)
        self._reusable = True

    def new_operation(self, method: str, req: Any) -> OperationHandle:
        """ExecuteStatement or a metadata call: the engine's operation handle."""
        resp = self.call(method, req)
        raise_for_status(resp.status)
        if resp.operationHandle is None:
            raise KyuubiSQLError(f"The engine's {method} reply has no operation handle", "HY000")
        return OperationHandle.from_thrift(resp.operationHandle)
