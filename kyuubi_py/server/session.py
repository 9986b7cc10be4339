"""A gateway session: a client session relayed to one engine session.

The session is known to the client by **the engine's own session handle**: :meth:`open` attaches
the engine (through the ``attach`` callable the backend gives) and adopts the engine's handle
before the session manager registers the session under it. Operation handles are the engine's
too, recorded per session so ownership can be checked and everything closed with the session.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.tcli import ttypes
from kyuubi_py.server.engine_client import EngineClient
from kyuubi_py.service.backend import Caller
from kyuubi_py.session.manager import SessionManager
from kyuubi_py.session.session import Session

log = logging.getLogger(__name__)


@dataclass
class EngineAttachment:
    """What :meth:`GatewaySession.open` gets from the backend: the engine session."""

    client: EngineClient
    handle: SessionHandle
    protocol_version: int
    configuration: Mapping[str, str] = field(default_factory=dict)
    #: Frees what the backend holds for the session (connection count, session znode).
    release: Callable[[], None] = lambda: None


Attach = Callable[["GatewaySession"], EngineAttachment]


class GatewaySession(Session):
    def __init__(
        self,
        handle: SessionHandle,
        caller: Caller,
        user: str,
        protocol_version: int,
        attach: Attach,
        on_close: Callable[[GatewaySession], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(handle, caller, user, protocol_version, clock=clock)
        self._attach = attach
        self._on_close = on_close
        self._engine: EngineAttachment | None = None
        self._in_flight = 0
        self._state_lock = threading.Lock()
        #: Ids of the session's relayed operations; kept by the session manager under its lock.
        self.operation_ids: set[OperationIds] = set()

    @property
    def engine(self) -> EngineAttachment:
        if self._engine is None:
            raise KyuubiSQLError.invalid_handle("SessionHandle", self.handle)
        return self._engine

    @property
    def client(self) -> EngineClient:
        return self.engine.client

    def open(self) -> None:
        attachment = self._attach(self)
        self._engine = attachment
        self._handle = attachment.handle
        self._protocol_version = attachment.protocol_version

    def close(self) -> None:
        try:
            self._close_engine_session()
        finally:
            self._on_close(self)
            if self._engine is not None:
                self._engine.release()

    def _close_engine_session(self) -> None:
        attachment = self._engine
        if attachment is None:
            return
        try:
            if not attachment.client.broken:
                attachment.client.close_session(attachment.handle)
        except KyuubiSQLError as exc:
            log.info("Closing the engine session of %r failed: %s", self, exc)
        finally:
            attachment.client.close()

    # -- activity ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def busy(self) -> Iterator[EngineClient]:
        """Marks a call in flight (a long synchronous statement keeps the session from idling
        out) and yields the engine client."""
        client = self.begin_call()
        try:
            yield client
        finally:
            self.end_call()

    def begin_call(self) -> EngineClient:
        """:meth:`busy` without a context manager, for the frame relay's per-RPC path: every
        call must be followed by :meth:`end_call`."""
        engine = self._engine  # not the properties: this runs on every relayed RPC
        if engine is None:
            raise KyuubiSQLError.invalid_handle("SessionHandle", self.handle)
        with self._state_lock:
            self._in_flight += 1
        return engine.client

    def end_call(self) -> None:
        with self._state_lock:
            self._in_flight -= 1
        self.touch()

    def idle_for(self, now: float) -> float:
        with self._state_lock:
            if self._in_flight:
                return 0.0
        return super().idle_for(now)


OperationIds = tuple[bytes, bytes]


@dataclass(eq=False)
class RelayedOperation:
    """An engine operation the gateway relays: its handle, its session and when it was last
    used (operations idle longer than ``kyuubi.operation.idle.timeout`` are closed)."""

    handle: OperationHandle
    session: GatewaySession
    last_used: float


class GatewaySessionManager(SessionManager[GatewaySession]):
    """The shared session manager plus an index of relayed operation handles.

    An operation handle is usable only by whoever may use its session; anything else gets the
    same "Invalid OperationHandle" error as an unknown handle. Operations nobody touched for
    ``kyuubi.operation.idle.timeout`` are closed on the engine and forgotten (the gateway does
    not decode their state, so any operation left alone that long counts as idle).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock, name="GatewaySessionManager")
        self.operation_idle_timeout_s = 0.0
        self._operations: dict[OperationIds, RelayedOperation] = {}
        self._index_lock = threading.Lock()

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def initialize(self, conf: KyuubiConf) -> None:
        self.operation_idle_timeout_s = conf.get(keys.OPERATION_IDLE_TIMEOUT) or 0.0
        super().initialize(conf)

    # -- relayed operations --------------------------------------------------------------------
    def add_engine_operation(self, session: GatewaySession, handle: OperationHandle) -> None:
        ids = (handle.guid, handle.secret)
        operation = RelayedOperation(handle, session, self._clock())
        with self._index_lock:
            self._operations[ids] = operation
            session.operation_ids.add(ids)

    def session_of_operation(self, caller: Caller, handle: OperationHandle) -> GatewaySession:
        """The session of a relayed operation ``caller`` may use; "Invalid OperationHandle"
        for any other, known or not."""
        session = self.relayed_session(caller, (handle.guid, handle.secret))
        if session is None:
            raise KyuubiSQLError.invalid_handle("OperationHandle", handle)
        return session

    def relayed_session(self, caller: Caller, ids: OperationIds) -> GatewaySession | None:
        """:meth:`session_of_operation` by the handle's ``(guid, secret)``, ``None`` for an
        operation ``caller`` may not use. Marks the operation and its session used. The frame
        relay calls it on every relayed RPC: one lock, no handle objects."""
        now = self._clock()
        with self._index_lock:
            operation = self._operations.get(ids)
            if operation is None or not operation.session.is_owned_by(caller):
                return None
            operation.last_used = now
        session = operation.session
        session.last_access = now
        return session

    def remove_engine_operation(self, session: GatewaySession, handle: OperationHandle) -> None:
        self.forget_operation(session, (handle.guid, handle.secret))

    def forget_operation(self, session: GatewaySession, ids: OperationIds) -> None:
        with self._index_lock:
            self._operations.pop(ids, None)
            session.operation_ids.discard(ids)

    def session_closed(self, session: GatewaySession) -> None:
        """Forget the operations of a closed session (the engine closed them with it)."""
        with self._index_lock:
            for ids in session.operation_ids:
                self._operations.pop(ids, None)
            session.operation_ids.clear()

    @property
    def operation_count(self) -> int:
        with self._index_lock:
            return len(self._operations)

    def idle_operations(self, now: float) -> list[RelayedOperation]:
        """Operations unused for longer than ``kyuubi.operation.idle.timeout``."""
        timeout_s = self.operation_idle_timeout_s
        with self._index_lock:
            return [op for op in self._operations.values() if now - op.last_used > timeout_s]

    # -- idle checking -------------------------------------------------------------------------
    def check_idle(self) -> None:
        super().check_idle()
        if self.operation_idle_timeout_s <= 0:
            return
        for operation in self.idle_operations(self._clock()):
            session, handle = operation.session, operation.handle
            log.info("Closing idle operation %s of %r", handle.public_id, session)
            self.remove_engine_operation(session, handle)
            close_engine_operation(session, handle)


def close_engine_operation(session: GatewaySession, handle: OperationHandle) -> None:
    """Close an operation on the engine; errors are only logged. Not a use of the session, so
    its idle clock is left alone."""
    try:
        session.client.call(
            "CloseOperation", ttypes.TCloseOperationReq(operationHandle=handle.to_thrift())
        )
    except KyuubiSQLError as exc:
        log.info("Closing operation %s on the engine failed: %s", handle.public_id, exc)
