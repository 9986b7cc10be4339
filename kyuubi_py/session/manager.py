"""The session registry shared by the engine and the gateway.

- Handles are matched by guid and secret; a handle that is unknown, closed, or owned by someone
  else gets the same "Invalid SessionHandle: <id>" error, so probing leaks nothing.
- Sessions are indexed by connection, so a dropped binary connection closes what it opened.
- A named checker thread closes idle finished operations, then idle sessions; a session with a
  running operation is never idled out. The clock is injectable and :meth:`check_idle` is one
  pass of the checker, so tests drive it without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.operation.manager import OperationManager
from kyuubi_py.operation.operation import Clock, Operation
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.service.backend import Caller
from kyuubi_py.service.lifecycle import CompositeService
from kyuubi_py.session.session import Session

log = logging.getLogger(__name__)

S = TypeVar("S", bound=Session)

#: Transports whose connections carry one request each: their sessions outlive the connection.
CONNECTIONLESS_TRANSPORTS = frozenset({"HTTP"})


class SessionManager(CompositeService, Generic[S]):
    def __init__(
        self,
        operations: OperationManager | None = None,
        clock: Clock = time.monotonic,
        name: str = "SessionManager",
    ) -> None:
        super().__init__(name)
        self.operations = operations or OperationManager(clock=clock)
        self.add_service(self.operations)
        self._clock = clock
        self._sessions: dict[SessionHandle, S] = {}
        self._by_connection: dict[int, set[SessionHandle]] = {}
        self._lock = threading.Lock()
        self._idle_since: float | None = clock()
        self._opened = 0
        self._stopping = threading.Event()
        self._checker: threading.Thread | None = None
        self.idle_timeout_s = 0.0
        self.check_interval_s = 300.0
        self.close_on_disconnect = True

    def initialize(self, conf: KyuubiConf) -> None:
        self.idle_timeout_s = conf.get(keys.SESSION_IDLE_TIMEOUT) or 0.0
        self.check_interval_s = max(0.05, conf.get(keys.SESSION_CHECK_INTERVAL) or 300.0)
        self.close_on_disconnect = bool(conf.get(keys.SESSION_CLOSE_ON_DISCONNECT))
        super().initialize(conf)

    def start(self) -> None:
        super().start()
        self._checker = threading.Thread(
            target=self._check_loop, name=f"{self.name}-idle-checker", daemon=True
        )
        self._checker.start()

    def stop(self) -> None:
        self._stopping.set()
        self.close_all()
        if self._checker is not None and self._checker is not threading.current_thread():
            self._checker.join(timeout=5)
        super().stop()

    # -- sessions ------------------------------------------------------------------------------
    def open_session(self, caller: Caller, create: Callable[[SessionHandle], S]) -> S:
        """Create a session with a fresh handle, :meth:`Session.open` it and register it."""
        if self._stopping.is_set():
            raise KyuubiSQLError("The service is shutting down; no new sessions", "08004")
        session = create(SessionHandle())
        try:
            session.open()
        except BaseException:
            _close_quietly(session)
            raise
        with self._lock:
            self._sessions[session.handle] = session
            self._by_connection.setdefault(caller.connection_id, set()).add(session.handle)
            self._idle_since = None
            self._opened += 1
        log.info("Opened %r for %s from %s", session, caller.user or "-", caller.client_host)
        return session

    def get_session(self, caller: Caller, handle: SessionHandle) -> S:
        with self._lock:
            session = self._sessions.get(handle)
        if session is None or not session.is_owned_by(caller):
            raise KyuubiSQLError.invalid_handle("SessionHandle", handle)
        session.touch()
        return session

    def close_session(self, caller: Caller, handle: SessionHandle) -> None:
        self.get_session(caller, handle)  # ownership check
        self._close(handle)

    def _close(self, handle: SessionHandle) -> None:
        with self._lock:
            session = self._sessions.pop(handle, None)
            if session is None:
                return
            connection = self._by_connection.get(session.connection_id)
            if connection is not None:
                connection.discard(handle)
                if not connection:
                    del self._by_connection[session.connection_id]
            if not self._sessions:
                self._idle_since = self._clock()
        for operation_handle in session.operation_handles():
            self._close_operation(session, operation_handle)
        _close_quietly(session)
        log.info("Closed %r", session)

    def connection_closed(self, caller: Caller) -> None:
        """A binary connection dropped: close the sessions opened on it (item 17)."""
        if caller.transport in CONNECTIONLESS_TRANSPORTS or not self.close_on_disconnect:
            return
        with self._lock:
            handles = list(self._by_connection.pop(caller.connection_id, ()))
        for handle in handles:
            self._close(handle)

    def close_all(self) -> None:
        with self._lock:
            handles = list(self._sessions)
        for handle in handles:
            self._close(handle)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def opened_count(self) -> int:
        """Sessions opened since start (closed ones included)."""
        with self._lock:
            return self._opened

    @property
    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def sessions(self) -> list[S]:
        with self._lock:
            return list(self._sessions.values())

    def idle_since(self) -> float | None:
        """Clock time since when no session has been open; ``None`` while one is."""
        with self._lock:
            return self._idle_since

    # -- operations ----------------------------------------------------------------------------
    def submit(self, session: S, operation: Operation) -> Operation:
        """Register ``operation`` under ``session`` and run it (see
        :meth:`OperationManager.run`); a failed sync run leaves nothing registered."""
        self.operations.add(operation)
        session.add_operation(operation.handle)
        try:
            self.operations.run(operation)
        except BaseException:
            session.remove_operation(operation.handle)
            raise
        return operation

    def get_operation(self, caller: Caller, handle: OperationHandle) -> Operation:
        try:
            operation = self.operations.get(handle)
            self.get_session(caller, operation.session.handle)
        except KyuubiSQLError:
            raise KyuubiSQLError.invalid_handle("OperationHandle", handle) from None
        operation.touch()
        return operation

    def close_operation(self, caller: Caller, handle: OperationHandle) -> None:
        operation = self.get_operation(caller, handle)
        with self._lock:
            session = self._sessions.get(operation.session.handle)
        if session is not None:
            self._close_operation(session, handle)

    def _close_operation(self, session: S, handle: OperationHandle) -> None:
        session.remove_operation(handle)
        operation = self.operations.remove(handle)
        if operation is not None:
            _close_quietly(operation)

    # -- idle checking -------------------------------------------------------------------------
    def check_idle(self) -> None:
        """One pass: close idle finished operations, then idle sessions without running work."""
        now = self._clock()
        for operation in self.operations.idle_operations(now):
            log.info("Closing idle operation %s", operation.handle.public_id)
            with self._lock:
                session = self._sessions.get(operation.session.handle)
            if session is not None:
                self._close_operation(session, operation.handle)
            else:
                self.operations.remove(operation.handle)
                _close_quietly(operation)
        if self.idle_timeout_s > 0:
            for session in self.sessions():
                if self._is_idle(session, now):
                    log.info("Closing %r, idle for %.0fs", session, session.idle_for(now))
                    self._close(session.handle)

    def _is_idle(self, session: S, now: float) -> bool:
        if session.idle_for(now) <= self.idle_timeout_s:
            return False
        for handle in session.operation_handles():
            try:
                if not self.operations.get(handle).is_terminal:
                    return False  # a running statement keeps its session alive
            except KyuubiSQLError:
                continue
        return True

    def _check_loop(self) -> None:
        while not self._stopping.wait(self.check_interval_s):
            try:
                self.check_idle()
            except Exception:  # noqa: BLE001 - the checker must keep running
                log.exception("Idle check failed")


def _close_quietly(closable: Session | Operation) -> None:
    try:
        closable.close()
    except Exception:  # noqa: BLE001 - closing must go on for the rest
        log.exception("Error closing %r", closable)
