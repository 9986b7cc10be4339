"""Forward operation-handle RPCs and plain statements to the engine as the client's own bytes.

GetOperationStatus, FetchResults, GetResultSetMetadata, CancelOperation and CloseOperation carry
nothing the gateway needs but the operation handle, and the handle is the engine's own
(reference/performance.md section 5). For a framed (SASL) client the handle's guid and secret sit
at fixed offsets when the request is encoded in the standard field order, so the gateway peeks
them (:func:`peek_operation_ids`), checks ownership exactly as the decode path does, sends the
client's message unchanged on the session's engine connection and returns the engine's reply
unchanged (its method name and seqid are already the client's).

ExecuteStatement goes the same way when it carries no conf overlay (an overlay must pass the
session conf checks, so it takes the decode path): the session handle is the engine's own too,
and sits where an operation handle would (:func:`peek_statement_session_ids`). Only the small
reply is decoded, to index the new operation handle under its session.

Anything else falls back to the decode path (``relay_frame`` returns ``None``): a request that
is not byte for byte the expected layout, an unknown or foreign handle (the decode path answers
with the usual "Invalid OperationHandle" error), a broken engine connection.
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Callable
from typing import Any, Final

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.Thrift import TType
from thrift.transport.TTransport import TMemoryBuffer

from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.protocol.dispatch import Buffer, parse_message_header
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.status import is_ok
from kyuubi_py.protocol.tcli import TCLIService, ttypes
from kyuubi_py.server.session import GatewaySession, GatewaySessionManager
from kyuubi_py.service.backend import BackendService, Caller
from kyuubi_py.service.frontend import ThriftFrontend
from kyuubi_py.service.thrift_service import FrontendFactory

__all__ = [
    "FRAME_RELAYED_METHODS",
    "FrameRelay",
    "GatewayFrontend",
    "gateway_frontend_factory",
    "peek_operation_ids",
    "peek_statement_session_ids",
]

#: The RPCs served by :meth:`FrameRelay.relay_frame`.
FRAME_RELAYED_METHODS: Final = frozenset(
    {
        "GetOperationStatus",
        "FetchResults",
        "GetResultSetMetadata",
        "CancelOperation",
        "CloseOperation",
    }
)

log = logging.getLogger(__name__)

_WIDTHS: Final = {
    TType.BOOL: 1,
    TType.BYTE: 1,
    TType.I16: 2,
    TType.I32: 4,
    TType.I64: 8,
    TType.DOUBLE: 8,
}

# args field 1 (req struct) > req field 1 (TOperationHandle) > its field 1 (THandleIdentifier) >
# guid: field 1, binary of 16 bytes; then secret: field 2, binary of 16 bytes; then STOP.
_HANDLE_PREFIX: Final = bytes(
    [TType.STRUCT, 0, 1, TType.STRUCT, 0, 1, TType.STRUCT, 0, 1, TType.STRING, 0, 1, 0, 0, 0, 16]
)
_GUID_AT: Final = len(_HANDLE_PREFIX)
_SECRET_PREFIX: Final = bytes([TType.STRING, 0, 2, 0, 0, 0, 16])
_SECRET_AT: Final = _GUID_AT + 16 + len(_SECRET_PREFIX)
_IDS_END: Final = _SECRET_AT + 16


def _tail_fields(struct_class: Any) -> dict[int, tuple[int, int]]:
    """Fields after field 1 of a struct: ``id -> (type byte, value width)``; all fixed-width."""
    fields = {}
    for entry in struct_class.thrift_spec[2:]:
        if entry is not None:
            fields[entry[0]] = (entry[1], _WIDTHS[entry[1]])
    return fields


def _request_class(method: str) -> Any:
    spec = getattr(TCLIService, f"{method}_args").thrift_spec
    assert len(spec) == 2 and spec[1][:2] == (1, TType.STRUCT)
    req_class = spec[1][3][0]
    assert req_class.thrift_spec[1][:3] == (1, TType.STRUCT, "operationHandle")
    return req_class


_HANDLE_TAIL: Final = _tail_fields(ttypes.TOperationHandle)
_REQUEST_TAILS: Final = {
    method: _tail_fields(_request_class(method)) for method in FRAME_RELAYED_METHODS
}
_STOP: Final = TType.STOP


def peek_operation_ids(name: str, frame: bytes, header_length: int) -> tuple[bytes, bytes] | None:
    """The operation handle's ``(guid, secret)`` of a ``name`` CALL message, or ``None``.

    ``header_length`` is where the args struct starts. The message must be exactly what the
    generated encoders produce: the handle identifier first at its fixed offset, then only the
    known fixed-width fields of the operation handle and of the request, in increasing field
    order (so no field repeats), each struct ended, and nothing after the args struct.
    """
    tail = _REQUEST_TAILS.get(name)
    if tail is None or not _has_handle_ids(frame, header_length):
        return None
    end = header_length + _IDS_END
    size = len(frame)
    if end >= size or frame[end] != _STOP:
        return None
    end = _skip_fields(frame, end + 1, size, _HANDLE_TAIL)
    if end < 0:
        return None
    end = _skip_fields(frame, end, size, tail)
    # Then the args struct's STOP ends the message.
    if end != size - 1 or frame[end] != _STOP:
        return None
    return _handle_ids(frame, header_length)


# ExecuteStatement: args field 1 (TExecuteStatementReq) > field 1 (TSessionHandle) > field 1
# (THandleIdentifier): the nesting of an operation handle, so the same prefix and offsets. The
# session handle has no other field; then the statement (field 2), the overlay (field 3, only
# empty), runAsync (4) and queryTimeout (5).
_STATEMENT_PREFIX: Final = bytes([TType.STRING, 0, 2])
_OVERLAY_PREFIX: Final = bytes([TType.MAP, 0, 3])
_EMPTY_MAP_SIZE: Final = bytes(4)
_STATEMENT_TAIL: Final = {4: (TType.BOOL, 1), 5: (TType.I64, 8)}
_I32: Final = struct.Struct("!i")


def peek_statement_session_ids(frame: bytes, header_length: int) -> tuple[bytes, bytes] | None:
    """The session handle's ``(guid, secret)`` of an ExecuteStatement CALL the gateway may
    forward as it is, or ``None``: the generated encoders' field order, a valid UTF-8 statement,
    no conf overlay or an empty one, then at most runAsync and queryTimeout."""
    if not _has_handle_ids(frame, header_length):
        return None
    end = header_length + _IDS_END
    if frame[end : end + 2] != b"\0\0":  # the identifier's STOP, then the session handle's
        return None
    end = _skip_statement(frame, end + 2)
    if end < 0:
        return None
    size = len(frame)
    end = _skip_fields(frame, end, size, _STATEMENT_TAIL)
    if end != size - 1 or frame[end] != _STOP:  # then the args struct's STOP ends the message
        return None
    return _handle_ids(frame, header_length)


def _skip_statement(frame: bytes, at: int) -> int:
    """Offset after the statement and an empty overlay (if any), or -1."""
    if not frame.startswith(_STATEMENT_PREFIX, at) or at + 7 > len(frame):
        return -1
    length: int = _I32.unpack_from(frame, at + 3)[0]
    start = at + 7
    end = start + length
    if length < 0 or end > len(frame):
        return -1
    try:
        frame[start:end].decode("utf-8")  # invalid UTF-8 gets the decode path's error
    except UnicodeDecodeError:
        return -1
    if frame.startswith(_OVERLAY_PREFIX, end):
        if not frame.startswith(_EMPTY_MAP_SIZE, end + 5):
            return -1
        end += 9  # field header, key and value types, size 0
    return end


def new_operation_handle(
    reply: bytes, protocol: TBinaryProtocolAccelerated | None = None
) -> OperationHandle | None:
    """The operation handle of a successful ExecuteStatement reply message, else ``None``.
    ``protocol``: one to reuse (only its transport is replaced)."""
    _, _, _, offset = parse_message_header(reply)
    if protocol is None:
        protocol = TBinaryProtocolAccelerated(TMemoryBuffer(b""), fallback=False)
    protocol.trans = TMemoryBuffer(reply, offset)
    result = TCLIService.ExecuteStatement_result()
    result.read(protocol)
    resp = result.success
    if resp is None or not is_ok(resp.status) or resp.operationHandle is None:
        return None
    return OperationHandle.from_thrift(resp.operationHandle)


def _has_handle_ids(frame: bytes, header_length: int) -> bool:
    """Whether the args struct opens with a handle identifier (guid, then secret) at the fixed
    offsets of :data:`_HANDLE_PREFIX`: an operation handle, or ExecuteStatement's session handle."""
    return frame.startswith(_HANDLE_PREFIX, header_length) and frame.startswith(
        _SECRET_PREFIX, header_length + _SECRET_AT - len(_SECRET_PREFIX)
    )


def _handle_ids(frame: bytes, header_length: int) -> tuple[bytes, bytes]:
    guid_at, secret_at = header_length + _GUID_AT, header_length + _SECRET_AT
    return frame[guid_at : guid_at + 16], frame[secret_at : secret_at + 16]


def _skip_fields(frame: bytes, at: int, size: int, fields: dict[int, tuple[int, int]]) -> int:
    """Offset after the STOP of a run of ``fields`` starting at ``at``, or -1."""
    last = 1
    while at < size:
        ttype = frame[at]
        if ttype == _STOP:
            return at + 1
        if at + 3 > size or frame[at + 1]:
            return -1
        field_id = frame[at + 2]
        expected = fields.get(field_id)
        if expected is None or expected[0] != ttype or field_id <= last:
            return -1
        last = field_id
        at += 3 + expected[1]
    return -1


class FrameRelay:
    """The frame relay of one client connection (a :class:`Caller`).

    Every relayed RPC runs this path, so it stays short: one index lookup by the peeked ids, no
    handle objects, no context managers. Its Python runs cold between the engine's bursts, where
    each call costs several times what it does in a loop (bench B2 versus the plain relay).
    """

    def __init__(self, sessions: GatewaySessionManager, caller: Caller) -> None:
        self._sessions = sessions
        self._caller = caller
        # Reused for every ExecuteStatement reply; only its transport changes.
        self._reply_protocol = TBinaryProtocolAccelerated(TMemoryBuffer(b""), fallback=False)
        #: The bookkeeping of the last relayed reply, done once the reply is sent (the client
        #: reads its reply meanwhile; this connection's next request waits for it, so no
        #: request can find the bookkeeping undone).
        self._after_reply: Callable[[], None] | None = None

    def after_reply(self) -> None:
        action, self._after_reply = self._after_reply, None
        if action is not None:
            action()

    def relay_frame(self, name: str, frame: bytes, header_length: int) -> list[Buffer] | None:
        """The engine's reply message to the CALL in ``frame``, or ``None`` to decode it."""
        if name == "ExecuteStatement":
            return self._relay_statement(frame, header_length)
        ids = peek_operation_ids(name, frame, header_length)
        if ids is None:
            return None
        session = self._sessions.relayed_session(self._caller, ids)
        if session is None:
            return None  # unknown or foreign handle: the decode path gives the same error
        reply = _forward(session, frame, header_length)
        if reply is None:
            return None
        if name == "CloseOperation":
            self._after_reply = functools.partial(self._sessions.forget_operation, session, ids)
        return [reply]

    def _relay_statement(self, frame: bytes, header_length: int) -> list[Buffer] | None:
        ids = peek_statement_session_ids(frame, header_length)
        if ids is None:
            return None
        try:
            session = self._sessions.get_session(self._caller, SessionHandle(ids[0], ids[1]))
        except KyuubiSQLError:
            return None  # unknown or foreign session: the decode path gives the same error
        reply = _forward(session, frame, header_length)
        if reply is None:
            return None
        # From here on the engine has the statement: never fall back (it would run twice).
        self._after_reply = functools.partial(self._record_operation, session, reply)
        return [reply]

    def _record_operation(self, session: GatewaySession, reply: bytes) -> None:
        """Index the operation an ExecuteStatement reply opened under its session."""
        try:
            handle = new_operation_handle(reply, self._reply_protocol)
        except Exception as exc:  # noqa: BLE001 - the client got the engine's bytes as they are
            log.warning("Undecodable ExecuteStatement reply from the engine: %s", exc)
            return
        if handle is not None:
            self._sessions.add_engine_operation(session, handle)


def _forward(session: GatewaySession, frame: bytes, header_length: int) -> bytes | None:
    """Send the client's CALL on the session's engine connection; the engine's reply message,
    or ``None`` (engine gone: the decode path answers with the "unreachable" error)."""
    try:
        client = session.begin_call()
    except KyuubiSQLError:
        return None  # the session lost its engine
    try:
        # One call at a time on the engine connection: its own lock serialises callers.
        reply = client.relay_frame(frame, header_length)
    finally:
        session.end_call()
    return reply


class GatewayFrontend(ThriftFrontend):
    """The gateway's per-connection handler: :class:`ThriftFrontend` plus the frame relay."""

    def __init__(self, backend: BackendService, caller: Caller, sessions: GatewaySessionManager):
        super().__init__(backend, caller)
        relay = FrameRelay(sessions, caller)
        self.relay_frame = relay.relay_frame
        self.after_reply = relay.after_reply


def gateway_frontend_factory(sessions: GatewaySessionManager) -> FrontendFactory:
    """Handlers with the frame relay for SASL connections, whose requests arrive as frames;
    NOSASL streams have no frame to forward and take the plain decode path."""

    def build(backend: BackendService, caller: Caller) -> ThriftFrontend:
        if caller.transport != "SASL":
            return ThriftFrontend(backend, caller)
        return GatewayFrontend(backend, caller, sessions)

    return build
