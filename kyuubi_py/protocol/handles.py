"""Session and operation handles as value objects.

A handle is a random 16-byte public id plus a random 16-byte secret (Hive's scheme; Kyuubi uses a
constant secret). Both must match for a handle to be recognised, and only the public id is ever
printed, so a handle seen in a log cannot be replayed.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from kyuubi_py.protocol.tcli import ttypes


def _random_id() -> bytes:
    return os.urandom(16)


@dataclass(frozen=True)
class Handle:
    guid: bytes = field(default_factory=_random_id)
    secret: bytes = field(default_factory=_random_id, repr=False)

    @property
    def public_id(self) -> str:
        return str(uuid.UUID(bytes=self.guid)) if len(self.guid) == 16 else self.guid.hex()

    def __str__(self) -> str:
        return self.public_id

    def to_thrift_id(self) -> ttypes.THandleIdentifier:
        return ttypes.THandleIdentifier(guid=self.guid, secret=self.secret)

    @staticmethod
    def ids_from_thrift(ident: ttypes.THandleIdentifier | None) -> tuple[bytes, bytes]:
        if ident is None:
            return b"", b""
        return bytes(ident.guid or b""), bytes(ident.secret or b"")


@dataclass(frozen=True)
class SessionHandle(Handle):
    def to_thrift(self) -> ttypes.TSessionHandle:
        return ttypes.TSessionHandle(sessionId=self.to_thrift_id())

    @classmethod
    def from_thrift(cls, handle: ttypes.TSessionHandle | None) -> SessionHandle:
        guid, secret = cls.ids_from_thrift(handle.sessionId if handle else None)
        return cls(guid, secret)


@dataclass(frozen=True)
class OperationHandle(Handle):
    """Equality is by ids only: the type and result flag describe the operation, they do not
    identify it."""

    operation_type: int = field(default=ttypes.TOperationType.EXECUTE_STATEMENT, compare=False)
    has_result_set: bool = field(default=True, compare=False)

    def to_thrift(self) -> ttypes.TOperationHandle:
        return ttypes.TOperationHandle(
            operationId=self.to_thrift_id(),
            operationType=self.operation_type,
            hasResultSet=self.has_result_set,
        )

    @classmethod
    def from_thrift(cls, handle: ttypes.TOperationHandle | None) -> OperationHandle:
        if handle is None:
            return cls(b"", b"")
        guid, secret = cls.ids_from_thrift(handle.operationId)
        op_type = handle.operationType
        if op_type is None:
            op_type = ttypes.TOperationType.UNKNOWN
        return cls(guid, secret, op_type, bool(handle.hasResultSet))
