"""Dispatch one TCLIService Thrift message to a handler object and encode the reply.

This replaces the generated ``TCLIService.Processor`` because it gets three things wrong for HS2
clients (reference/hs2-protocol.md section 1.4):

- unknown methods (``GetLog``, ``CloseImpalaOperation``) are skipped with ``TProtocolBase.skip``,
  which UTF-8-decodes binary GUIDs and drops the connection instead of answering
  ``UNKNOWN_METHOD``;
- it costs a transport and a protocol object per reply; here a reply is a list of buffers that the
  socket layer sends with one ``sendmsg``;
- it cannot relay an engine's already-encoded reply; here a handler may return
  :class:`RawResponse` or :class:`RawMessage` and the bytes pass through untouched.

A :class:`Dispatcher` serves one connection. :meth:`Dispatcher.process_frame` takes one framed
message (SASL transport: the frame boundary is known, so a malformed request is answered and the
connection stays usable); :meth:`Dispatcher.process_stream` reads one message from an unframed
protocol (NOSASL: after a decode error the stream position is lost and :class:`ProtocolError`
tells the caller to close). Both return the reply message as a list of buffers, unframed.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport.TTransport import TMemoryBuffer, TTransportException

from kyuubi_py.errors import ProtocolError
from kyuubi_py.protocol.tcli import TCLIService

__all__ = [
    "SERVICE_METHODS",
    "Buffer",
    "Dispatcher",
    "FrameRelayHook",
    "RawMessage",
    "RawResponse",
    "application_exception_body",
    "encode_message_header",
    "parse_message_header",
    "replace_message_header",
    "skip",
]

logger = logging.getLogger(__name__)

Buffer = bytes | bytearray | memoryview
#: ``relay_frame(name, frame, header_length)``: a handler's optional pass-through for framed
#: CALLs; the complete reply message, or ``None`` to decode and dispatch as usual.
FrameRelayHook = Callable[[str, bytes, int], "list[Buffer] | None"]

VERSION_1: Final = -2147418112  # 0x80010000 as a signed i32, as TBinaryProtocol.VERSION_1
VERSION_MASK: Final = -65536  # 0xffff0000
TYPE_MASK: Final = 0xFF
# Longest method name we parse; TCLIService names are < 32 bytes, anything longer is garbage.
MAX_NAME_LENGTH: Final = 256

_I32 = struct.Struct(">i")
_HEADER_START = struct.Struct(">ii")
# Field header of `success` (field 0, a struct) in every `<Method>_result`.
_SUCCESS_FIELD = bytes([TType.STRUCT, 0, 0])
_STOP = bytes([TType.STOP])
_REPLACEMENT = "\ufffd"
_REPLACEMENT_UTF8 = _REPLACEMENT.encode("utf-8")

# What a malformed request can raise while being decoded: the C decoder raises OverflowError
# (length limits), TypeError (wrong wire type), EOFError (truncated); the Python one raises
# TProtocolException, TTransportException (NEGATIVE_SIZE, SIZE_LIMIT), UnicodeDecodeError.
_DECODE_ERRORS = (
    TProtocolException,
    TTransportException,
    UnicodeDecodeError,
    EOFError,
    OverflowError,
    TypeError,
    ValueError,
    struct.error,
)
_SIZE_ERRORS = frozenset({TTransportException.NEGATIVE_SIZE, TTransportException.SIZE_LIMIT})


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A handler result: the encoded response struct (what ``resp.write(protocol)`` produces)."""

    parts: Sequence[Buffer]


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A handler result: a complete encoded reply message, e.g. relayed from an engine.

    Its header is rewritten to the request's method name and seqid; its message type (REPLY or
    EXCEPTION) and body are sent untouched.
    """

    parts: Sequence[Buffer]


# --- message headers ---------------------------------------------------------------------------


def encode_message_header(name: str, message_type: int, seqid: int) -> bytes:
    """Strict binary message header: ``i32 version|type, i32 len, name, i32 seqid``."""
    return _header_prefix(name.encode("utf-8"), message_type) + _I32.pack(seqid)


def _header_prefix(name: bytes, message_type: int) -> bytes:
    return _HEADER_START.pack(VERSION_1 | message_type, len(name)) + name


def parse_message_header(data: Buffer) -> tuple[str, int, int, int]:
    """Parse a strict binary message header: ``(name, message_type, seqid, header_length)``.

    Raises :class:`ProtocolError` for a non-strict or truncated header or a non-UTF-8 name.
    """
    message_type, name_length = _parse_header_start(data)
    end = 8 + name_length
    if len(data) < end + 4:
        raise ProtocolError(f"truncated message header ({len(data)} bytes)")
    try:
        name = bytes(data[8:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("method name is not valid UTF-8") from None
    (seqid,) = _I32.unpack_from(data, end)
    return name, message_type, seqid, end + 4


def _parse_header_start(data: Buffer) -> tuple[int, int]:
    if len(data) < 8:
        raise ProtocolError(f"truncated message header ({len(data)} bytes)")
    version_type, name_length = _HEADER_START.unpack_from(data)
    if version_type & VERSION_MASK != VERSION_1:
        raise ProtocolError(f"bad protocol version in message header: {version_type:#010x}")
    if not 0 <= name_length <= MAX_NAME_LENGTH:
        raise ProtocolError(f"bad method name length in message header: {name_length}")
    return version_type & TYPE_MASK, name_length


def replace_message_header(parts: Sequence[Buffer], name: str, seqid: int) -> list[Buffer]:
    """Return ``parts`` (one encoded message) with its name and seqid replaced; type kept."""
    head = _peek(parts, 8)
    message_type, name_length = _parse_header_start(head)
    return [encode_message_header(name, message_type, seqid), *_drop(parts, 12 + name_length)]


def _peek(parts: Sequence[Buffer], n: int) -> bytes:
    """The first ``n`` bytes of the concatenation of ``parts`` (fewer if it is shorter)."""
    if parts and len(parts[0]) >= n:
        return bytes(parts[0][:n])
    out = bytearray()
    for part in parts:
        out += part[: n - len(out)]
        if len(out) >= n:
            break
    return bytes(out)


def _drop(parts: Sequence[Buffer], n: int) -> list[Buffer]:
    """``parts`` without their first ``n`` bytes, as zero-copy views."""
    for index, part in enumerate(parts):
        if n < len(part):
            return [memoryview(part)[n:], *parts[index + 1 :]]
        n -= len(part)
    if n:
        raise ProtocolError("relayed message is shorter than its header")
    return []


def application_exception_body(exc_type: int, message: str) -> bytes:
    """The encoded ``TApplicationException`` struct (field 1 message, field 2 type)."""
    text = message.encode("utf-8")
    return b"".join(
        (
            bytes([TType.STRING, 0, 1]),
            _I32.pack(len(text)),
            text,
            bytes([TType.I32, 0, 2]),
            _I32.pack(exc_type),
            _STOP,
        )
    )


def _exception_reply(name: str, seqid: int, exc_type: int, message: str) -> list[Buffer]:
    header = encode_message_header(name, TMessageType.EXCEPTION, seqid)
    return [header, application_exception_body(exc_type, message)]


# --- binary-safe skip --------------------------------------------------------------------------

_FIXED_WIDTH: Final[dict[int, int]] = {
    TType.BOOL: 1,
    TType.BYTE: 1,
    TType.DOUBLE: 8,
    TType.I16: 2,
    TType.I32: 4,
    TType.I64: 8,
    TType.UUID: 16,
}
_SKIP_CHUNK = 64 * 1024


def skip(iprot: TBinaryProtocol, ttype: int, max_depth: int = 64) -> None:
    """Skip one value of ``ttype`` without decoding it.

    Unlike ``TProtocolBase.skip`` this never UTF-8-decodes STRING values (they may be binary
    GUIDs) and skips fixed-width lists in chunks instead of one Python call per element.
    """
    if max_depth <= 0:
        raise TProtocolException(TProtocolException.DEPTH_LIMIT, "Maximum skip depth exceeded")
    width = _FIXED_WIDTH.get(ttype)
    if width is not None:
        _skip_bytes(iprot, width)
    elif ttype == TType.STRING:
        _skip_bytes(iprot, _checked_length(iprot.readI32(), iprot.string_length_limit))
    elif ttype == TType.STRUCT:
        _skip_struct(iprot, max_depth)
    elif ttype == TType.MAP:
        key_type, value_type, size = iprot.readMapBegin()
        for _ in range(size):
            skip(iprot, key_type, max_depth - 1)
            skip(iprot, value_type, max_depth - 1)
    elif ttype in (TType.LIST, TType.SET):
        element_type, size = iprot.readListBegin()
        _skip_elements(iprot, element_type, size, max_depth - 1)
    else:
        raise TProtocolException(TProtocolException.INVALID_DATA, f"invalid TType {ttype}")


def _skip_struct(iprot: TBinaryProtocol, max_depth: int) -> None:
    while True:
        _, field_type, _ = iprot.readFieldBegin()
        if field_type == TType.STOP:
            return
        skip(iprot, field_type, max_depth - 1)


def _skip_elements(iprot: TBinaryProtocol, ttype: int, count: int, max_depth: int) -> None:
    width = _FIXED_WIDTH.get(ttype)
    if width is not None:
        _skip_bytes(iprot, width * count)
        return
    for _ in range(count):
        skip(iprot, ttype, max_depth)


def _checked_length(length: int, limit: int | None) -> int:
    if length < 0:
        raise TProtocolException(TProtocolException.NEGATIVE_SIZE, f"Negative length: {length}")
    if limit is not None and length > limit:
        raise TProtocolException(TProtocolException.SIZE_LIMIT, f"Length {length} > {limit}")
    return length


def _skip_bytes(iprot: TBinaryProtocol, n: int) -> None:
    while n > 0:
        chunk = min(n, _SKIP_CHUNK)
        iprot.trans.readAll(chunk)
        n -= chunk


# --- invalid UTF-8 detection ---------------------------------------------------------------------
#
# fastbinary decodes UTF-8 strings with errors="replace", so invalid input silently becomes U+FFFD
# instead of raising. For a frame we still have the raw bytes: if the decoded strings hold more
# U+FFFD than the frame holds encoded U+FFFD sequences, some bytes were invalid UTF-8. Counters are
# compiled once per args class from its thrift_spec and skip subtrees that hold no strings, so
# requests without strings (FetchResults, GetOperationStatus...) pay nothing.

_Counter = Callable[[Any], int]
_struct_counters: dict[type, _Counter | None] = {}


def _count_replacements(value: Any) -> int:
    return value.count(_REPLACEMENT) if isinstance(value, str) else 0


def _struct_counter(cls: type) -> _Counter | None:
    if cls in _struct_counters:
        return _struct_counters[cls]
    # Provisional entry for recursive structs: resolved through the table at call time.
    _struct_counters[cls] = lambda value: (_struct_counters[cls] or _zero)(value)
    fields: list[tuple[str, _Counter]] = []
    for entry in getattr(cls, "thrift_spec", None) or ():
        if entry is not None:
            counter = _type_counter(entry[1], entry[3])
            if counter is not None:
                fields.append((entry[2], counter))
    _struct_counters[cls] = _fields_counter(fields) if fields else None
    return _struct_counters[cls]


def _zero(value: Any) -> int:
    return 0


def _fields_counter(fields: list[tuple[str, _Counter]]) -> _Counter:
    def count(value: Any) -> int:
        total = 0
        for name, counter in fields:
            field = getattr(value, name, None)
            if field is not None:
                total += counter(field)
        return total

    return count


def _type_counter(ttype: int, typeargs: Any) -> _Counter | None:
    if ttype == TType.STRING:
        return _count_replacements if typeargs == "UTF8" else None
    if ttype == TType.STRUCT:
        return _struct_counter(typeargs[0])
    if ttype in (TType.LIST, TType.SET):
        element = _type_counter(typeargs[0], typeargs[1])
        return None if element is None else _iterable_counter(element)
    if ttype == TType.MAP:
        return _map_counter(
            _type_counter(typeargs[0], typeargs[1]), _type_counter(typeargs[2], typeargs[3])
        )
    return None


def _iterable_counter(element: _Counter) -> _Counter:
    return lambda value: sum(element(item) for item in value)


def _map_counter(key: _Counter | None, value: _Counter | None) -> _Counter | None:
    if key is None and value is None:
        return None
    key_counter = key or _zero
    value_counter = value or _zero
    return lambda mapping: sum(key_counter(k) + value_counter(v) for k, v in mapping.items())


# --- the service method table ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Method:
    name: str
    args_class: type
    result_spec: list[Any]
    reply_prefix: bytes
    replacements: _Counter | None


def _service_method(name: str) -> _Method:
    args_class = getattr(TCLIService, f"{name}_args")
    result_class = getattr(TCLIService, f"{name}_result")
    return _Method(
        name=name,
        args_class=args_class,
        result_spec=[result_class, result_class.thrift_spec],
        reply_prefix=_header_prefix(name.encode("utf-8"), TMessageType.REPLY),
        replacements=_struct_counter(args_class),
    )


def _service_methods() -> dict[str, _Method]:
    names = [name for name in vars(TCLIService.Iface) if not name.startswith("_")]
    return {name: _service_method(name) for name in sorted(names)}


_METHODS: Final = _service_methods()
#: The RPC names of the TCLIService service (from the generated ``Iface``).
SERVICE_METHODS: Final = frozenset(_METHODS)


# --- the dispatcher ----------------------------------------------------------------------------


class Dispatcher:
    """Decode, dispatch and encode messages for one connection's handler object.

    A method is served when the service defines it and the handler has a callable attribute of
    that name; everything else is ``UNKNOWN_METHOD``. Methods are looked up per call, not bound
    up front: a table of bound methods would cost every idle connection 3.6 KB.
    """

    def __init__(self, handler: object) -> None:
        self._handler = handler
        # Optional fast path for framed requests: ``relay_frame(name, frame, header_length)``
        # returns the whole reply message, or None to decode the request as usual.
        self._relay_frame: FrameRelayHook | None = getattr(handler, "relay_frame", None)
        # Optional ``after_reply()``: work the last reply need not wait for, run once it is sent.
        self._after_reply: Callable[[], None] | None = getattr(handler, "after_reply", None)
        # One protocol reused for every frame; only its transport and limits change.
        self._frame_protocol = TBinaryProtocolAccelerated(TMemoryBuffer(b""), fallback=False)

    def process_frame(self, frame: bytes) -> list[Buffer]:
        """Serve the one message in ``frame``; return the reply message.

        Raises :class:`ProtocolError` only when the message header is unusable: without a name and
        seqid there is nothing a client could match a reply to.
        """
        name, message_type, seqid, offset = parse_message_header(frame)
        if self._relay_frame is not None and message_type == TMessageType.CALL:
            relayed = self._relay_frame(name, frame, offset)
            if relayed is not None:
                return relayed
        bound = self._bound(name) if message_type == TMessageType.CALL else None
        if bound is None:
            # The frame boundary is known, so the args need no skipping.
            return self._unknown(name, message_type, seqid)
        method, function = bound
        iprot = self._frame_protocol
        iprot.trans = TMemoryBuffer(frame, offset)
        # Every string and container element takes at least one byte of the frame, so no declared
        # length can exceed the frame's: the C decoder then never pre-allocates for a lie.
        iprot.string_length_limit = iprot.container_length_limit = len(frame)
        try:
            args = method.args_class()
            args.read(iprot)
        except _DECODE_ERRORS as exc:
            return self._invalid_request(name, seqid, _describe(exc))
        if method.replacements is not None:
            replaced = method.replacements(args)
            if replaced and replaced > frame.count(_REPLACEMENT_UTF8):
                return self._invalid_request(name, seqid, _INVALID_UTF8)
        return self._checked_call(method, function, args.req, seqid)

    def _bound(self, name: str) -> tuple[_Method, Callable[[Any], Any]] | None:
        """The service method ``name`` and the handler's function serving it, if both exist."""
        method = _METHODS.get(name)
        function = getattr(self._handler, name, None) if method is not None else None
        return (method, function) if method is not None and callable(function) else None

    def after_reply(self) -> None:
        """Run the handler's deferred work, if any; the server calls it after each reply."""
        if self._after_reply is not None:
            self._after_reply()

    def process_stream(self, iprot: TBinaryProtocol) -> list[Buffer]:
        """Read one message from an unframed protocol and serve it; return the reply message.

        ``iprot`` must have its ``string_length_limit`` and ``container_length_limit`` set: on a
        stream nothing else bounds a declared length.

        Raises :class:`ProtocolError` when the request is malformed (the stream position is lost,
        so the connection must close) and lets a transport's END_OF_FILE through (disconnect).
        """
        try:
            name, message_type, seqid = iprot.readMessageBegin()
            bound = self._bound(name) if message_type == TMessageType.CALL else None
            if bound is None:
                skip(iprot, TType.STRUCT)
                return self._unknown(name, message_type, seqid)
            method, function = bound
            args = method.args_class()
            args.read(_strict_reader(iprot) if method.replacements is not None else iprot)
        except TTransportException as exc:
            if exc.type not in _SIZE_ERRORS:
                raise
            raise ProtocolError(f"malformed request: {exc}") from exc
        except _DECODE_ERRORS as exc:
            raise ProtocolError(f"malformed request: {_describe(exc)}") from exc
        return self._checked_call(method, function, args.req, seqid)

    def _checked_call(
        self, method: _Method, function: Callable[[Any], Any], req: Any, seqid: int
    ) -> list[Buffer]:
        # Java's generated readers validate() what they decode and answer PROTOCOL_ERROR; do the
        # same, so a handler never sees a request without its required fields.
        if req is None:
            return self._invalid_request(method.name, seqid, "the request struct is missing")
        try:
            req.validate()
        except TProtocolException as exc:
            return self._invalid_request(method.name, seqid, str(exc))
        return self._call(method, function, req, seqid)

    def _call(
        self, method: _Method, function: Callable[[Any], Any], req: Any, seqid: int
    ) -> list[Buffer]:
        try:
            response = function(req)
        except TApplicationException as exc:
            logger.info("%s answered with TApplicationException: %s", method.name, exc)
            return _exception_reply(method.name, seqid, exc.type, str(exc))
        except Exception as exc:
            logger.exception("%s handler failed", method.name)
            return _exception_reply(method.name, seqid, _INTERNAL_ERROR, _message(exc))
        return self._encode_reply(method, response, seqid)

    def _encode_reply(self, method: _Method, response: Any, seqid: int) -> list[Buffer]:
        header = method.reply_prefix + _I32.pack(seqid)
        if isinstance(response, RawResponse):
            return [header + _SUCCESS_FIELD, *response.parts, _STOP]
        try:
            if isinstance(response, RawMessage):
                return replace_message_header(response.parts, method.name, seqid)
            # Java clients validate() every struct they read: a missing required field must fail
            # here, loudly, rather than as a protocol error inside the client.
            response.validate()
            result = method.result_spec[0](success=response)
            return [header, fastbinary.encode_binary(result, method.result_spec)]
        except Exception as exc:
            logger.exception("%s returned a response that cannot be encoded", method.name)
            return _exception_reply(method.name, seqid, _INTERNAL_ERROR, _message(exc))

    def _unknown(self, name: str, message_type: int, seqid: int) -> list[Buffer]:
        if message_type != TMessageType.CALL:
            logger.info("ignoring %s message of type %d: only calls are served", name, message_type)
            return _exception_reply(
                name, seqid, _INVALID_MESSAGE_TYPE, f"Invalid message type {message_type}"
            )
        logger.info("client called unknown method %r", name)
        return _exception_reply(name, seqid, _UNKNOWN_METHOD, f"Invalid method name: '{name}'")

    def _invalid_request(self, name: str, seqid: int, reason: str) -> list[Buffer]:
        logger.warning("rejected malformed %s request: %s", name, reason)
        return _exception_reply(name, seqid, _PROTOCOL_ERROR, f"Malformed {name} request: {reason}")


_UNKNOWN_METHOD: Final = TApplicationException.UNKNOWN_METHOD
_INVALID_MESSAGE_TYPE: Final = TApplicationException.INVALID_MESSAGE_TYPE
_INTERNAL_ERROR: Final = TApplicationException.INTERNAL_ERROR
_PROTOCOL_ERROR: Final = TApplicationException.PROTOCOL_ERROR


_INVALID_UTF8: Final = "invalid UTF-8 in a string field"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return _INVALID_UTF8
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _strict_reader(iprot: TBinaryProtocol) -> TBinaryProtocol:
    """A pure-Python reader over the same stream, for requests that carry strings.

    fastbinary replaces invalid UTF-8 with U+FFFD, and on an unframed stream the raw bytes are
    gone once decoded, so the framed path's replacement count cannot be done. The pure-Python
    reader raises UnicodeDecodeError instead; these requests are small, so the cost is tiny.
    """
    return TBinaryProtocol(
        iprot.trans,
        strictRead=True,
        string_length_limit=iprot.string_length_limit,
        container_length_limit=iprot.container_length_limit,
    )
