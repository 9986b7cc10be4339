"""The session base shared by the engine and the gateway.

A session belongs to whoever opened it: the authenticated user (``Caller.user``) or, for a NOSASL
caller that has no authenticated identity, the very connection it was opened on. Subclasses
create operations and free what they hold in :meth:`Session.close`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from kyuubi_py.operation.operation import Clock, now_ms
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.service.backend import Caller

#: Session user when neither the transport nor OpenSession names one (Hive JDBC's default).
ANONYMOUS_USER = "anonymous"


def session_user(caller: Caller, username: str | None) -> str:
    """The authenticated identity when there is one, else the OpenSession username (Hive/STS:
    impyla sends the OS login as username while authenticating as someone else)."""
    if caller.user:
        return caller.user
    if username and username.strip():
        return username.strip()
    return ANONYMOUS_USER


class Session:
    """One client session; thread-safe bookkeeping of its operations and last use."""

    def __init__(
        self,
        handle: SessionHandle,
        caller: Caller,
        user: str,
        protocol_version: int,
        configuration: Mapping[str, str] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._handle = handle
        self._user = user
        self._protocol_version = protocol_version
        self.owner = caller.user
        self.connection_id = caller.connection_id
        self.client_host = caller.client_host
        self.transport = caller.transport
        self.configuration: dict[str, str] = dict(configuration or {})
        self.created_ms = now_ms()
        self._clock = clock
        self.last_access = clock()
        self._operations: set[OperationHandle] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._handle.public_id}, user={self._user})"

    @property
    def handle(self) -> SessionHandle:
        return self._handle

    @property
    def user(self) -> str:
        return self._user

    @property
    def protocol_version(self) -> int:
        return self._protocol_version

    @property
    def clock(self) -> Clock:
        return self._clock

    def is_owned_by(self, caller: Caller) -> bool:
        """Same authenticated user; without one (NOSASL), the same connection."""
        if self.owner is not None:
            return caller.user == self.owner
        return caller.user is None and caller.connection_id == self.connection_id

    def touch(self) -> None:
        self.last_access = self._clock()

    def idle_for(self, now: float) -> float:
        return now - self.last_access

    # -- operations ----------------------------------------------------------------------------
    def add_operation(self, handle: OperationHandle) -> None:
        with self._lock:
            self._operations.add(handle)

    def remove_operation(self, handle: OperationHandle) -> None:
        with self._lock:
            self._operations.discard(handle)

    def operation_handles(self) -> list[OperationHandle]:
        with self._lock:
            return list(self._operations)

    # -- lifecycle hooks -----------------------------------------------------------------------
    def open(self) -> None:
        """Prepare the session (apply the OpenSession configuration); raise to refuse it."""

    def close(self) -> None:
        """Free what the session holds; its operations are already closed."""
