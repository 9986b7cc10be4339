"""A lean blocking TCLIService client connection (gateway to engine, tests, benchmarks).

Unlike ``thrift_sasl.TSaslClientTransport`` + a generated ``Client`` it sends each call with one
``sendmsg`` (no joined copy of the frame), decodes replies with fastbinary straight from the
received frame, and can return a reply *undecoded* (:meth:`ThriftClientConnection.call_raw`) so
the gateway relays FetchResults bytes without touching row data.

One call at a time per connection (a lock serialises callers). A failure of the transport, a
timeout or a reply that does not match its call (seqid, method name) leaves the stream in an
unknown state, so the connection is closed and later calls raise ``TTransportException``.
"""

from __future__ import annotations

import io
import itertools
import logging
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, NoReturn, TypeVar

from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import (
    CReadableTransport,
    TBufferedTransport,
    TTransportBase,
    TTransportException,
)

from kyuubi_py.errors import AuthenticationError, ProtocolError
from kyuubi_py.protocol.dispatch import encode_message_header, parse_message_header, skip
from kyuubi_py.protocol.tcli import TCLIService
from kyuubi_py.transport.sasl import DEFAULT_MAX_PAYLOAD, HEADER, Status, encode_message
from kyuubi_py.transport.server import (
    DEFAULT_MAX_MESSAGE_SIZE,
    _SocketRawIO,
    send_frame,
    send_parts,
)

__all__ = ["ThriftClientConnection"]

log = logging.getLogger(__name__)

_U32 = struct.Struct(">I")
_T = TypeVar("_T")
_SEQIDS_WRAP: Final = 2**31 - 1
_REPLY_TYPES: Final = (TMessageType.REPLY, TMessageType.EXCEPTION)
#: Read buffer of a connection. Replies to control calls are small; a read larger than the
#: buffer (a FetchResults frame) receives straight into its ``bytes``, so a small buffer costs
#: nothing there while an idle connection (one per gateway session) holds little memory.
_READ_BUFFER: Final = 4 * 1024


def _connect(host: str, port: int, timeout_s: float, local_socket: str | None) -> socket.socket:
    """Over the server's local socket when it is on this host, else over TCP."""
    sock = _connect_local(local_socket, timeout_s) if local_socket else None
    if sock is not None:
        return sock
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        message = f"cannot connect to {host}:{port}: {exc}"
        raise TTransportException(TTransportException.NOT_OPEN, message, exc) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _connect_local(name: str, timeout_s: float) -> socket.socket | None:
    """A connection to the abstract Unix socket ``name`` (a server on this host), or ``None``
    when nothing listens there (another host's, or a server that has none)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(f"\0{name}")
    except OSError as exc:
        sock.close()
        log.debug("no local socket %r (%s): connecting over TCP", name, exc)
        return None
    return sock


def _closed_inside(what: str) -> TTransportException:
    return TTransportException(
        TTransportException.END_OF_FILE, f"server closed the connection inside {what}"
    )


class _FrameReadTransport(TTransportBase, CReadableTransport):  # type: ignore[misc]
    """Reads a framed stream as one byte stream, readable by fastbinary.

    A reply normally fits one frame; ``cstringio_refill`` pulls further frames when it does not
    (readers must accept a message split across frames).
    """

    def __init__(self, read_frame: Callable[[], bytes]) -> None:
        self._read_frame = read_frame
        self._buffer = io.BytesIO()
        self._size = 0

    def pending(self) -> int:
        """Bytes received but not consumed yet."""
        return self._size - self._buffer.tell()

    def read(self, sz: int) -> bytes:
        data = self._buffer.read(sz)
        if data:
            return data
        self._load(self._read_frame())
        return self._buffer.read(sz)

    @property
    def cstringio_buf(self) -> io.BytesIO:
        return self._buffer

    def cstringio_refill(self, partialread: bytes, reqlen: int) -> io.BytesIO:
        data = partialread
        while len(data) < reqlen:
            data += self._read_frame()
        self._load(data)
        return self._buffer

    def _load(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self._size = len(data)


class _RecordingTransport(TTransportBase):  # type: ignore[misc]
    """Keeps every byte read through it: finds one unframed message's exact bytes."""

    def __init__(self, inner: TTransportBase) -> None:
        self._inner = inner
        self.chunks: list[bytes] = []

    def read(self, sz: int) -> bytes:
        data: bytes = self._inner.read(sz)
        self.chunks.append(data)
        return data


class ThriftClientConnection:
    """One TCLIService connection over SASL PLAIN (framed) or NOSASL (unframed).

    ``user``/``password`` default to what Hive JDBC sends when none are given; NOSASL ignores
    them. ``connect_timeout_s`` bounds connecting and the SASL login, ``timeout_s`` (None: no
    limit) each socket read or write of a call.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str = "anonymous",
        password: str = "anonymous",
        sasl: bool = True,
        connect_timeout_s: float = 10.0,
        timeout_s: float | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        local_socket: str | None = None,
    ) -> None:
        self._sasl = sasl
        self._max_message_size = max_message_size
        self._lock = threading.Lock()
        self._seqids = itertools.count(1)
        self._closed = False
        self._frames: _FrameReadTransport | None = None
        self._buffered: TBufferedTransport | None = None
        self._sock = _connect(host, port, connect_timeout_s, local_socket)
        self._reader = io.BufferedReader(_SocketRawIO(self._sock), _READ_BUFFER)
        if sasl:
            # The login is part of connecting: a server that never answers must not hang us.
            self._guarded(lambda: self._negotiate(user, password))
        self._sock.settimeout(timeout_s)
        self._iprot = self._input_protocol()

    # --- public API ---

    @property
    def is_open(self) -> bool:
        return not self._closed

    def call(self, method: str, req: Any) -> Any:
        """Call ``method`` with ``req``; return the response struct.

        Raises ``TApplicationException`` for an EXCEPTION reply (the connection stays usable).
        """
        with self._lock:
            seqid = self._send(method, req)
            return self._guarded(lambda: self._read_result(method, seqid))

    def call_raw(self, method: str, req: Any) -> bytes:
        """Call ``method``; return the whole reply message (header included) undecoded."""
        with self._lock:
            seqid = self._send(method, req)
            return self._guarded(lambda: self._read_raw(method, seqid))

    def call_frame(self, message: bytes, header_length: int) -> bytes:
        """Send an already-encoded CALL ``message`` (SASL connections only) as it is; return the
        reply message undecoded. ``header_length`` is the length of its message header: the
        reply must carry the same method name and seqid (the caller's), else the stream is out
        of step and the connection closes."""
        if not self._sasl:
            raise ValueError("call_frame needs a framed (SASL) connection")
        with self._lock:
            if self._closed:
                raise TTransportException(TTransportException.NOT_OPEN, "connection is closed")
            # Every relayed RPC comes here: plain try/except, not _guarded's closures.
            try:
                send_frame(self._sock, [message])
                return self._read_reply_frame(message, header_length)
            except BaseException as exc:
                self._raise_broken(exc)

    def set_timeout(self, timeout_s: float | None) -> None:
        """Timeout of later calls (``None``: none); e.g. a short one for the handshake, then the
        request timeout."""
        self._sock.settimeout(timeout_s)

    def close(self) -> None:
        """Close the connection; a call blocked in another thread fails at once."""
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # never connected or already gone
        self._sock.close()

    def __enter__(self) -> ThriftClientConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- SASL PLAIN ---

    def _negotiate(self, user: str, password: str) -> None:
        response = b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")
        # Java's client sends the response with COMPLETE; both messages go in one write.
        self._sock.sendall(
            encode_message(Status.START, b"PLAIN") + encode_message(Status.COMPLETE, response)
        )
        header = self._read_exact(HEADER.size, "SASL negotiation")
        status, length = HEADER.unpack(header)
        if not 0 <= length <= DEFAULT_MAX_PAYLOAD:
            raise ProtocolError(f"Invalid payload header length: {length}")
        message = self._read_exact(length, "SASL negotiation").decode("utf-8", "replace")
        if status in (Status.BAD, Status.ERROR):
            raise AuthenticationError(message)
        if status != Status.COMPLETE:
            raise ProtocolError(f"Expected SASL COMPLETE, got status {status}")

    # --- sending ---

    def _send(self, method: str, req: Any) -> int:
        if self._closed:
            raise TTransportException(TTransportException.NOT_OPEN, "connection is closed")
        args_class = getattr(TCLIService, f"{method}_args", None)
        if args_class is None:
            raise ValueError(f"{method!r} is not a TCLIService method")
        seqid = next(self._seqids) % _SEQIDS_WRAP
        body = fastbinary.encode_binary(args_class(req=req), [args_class, args_class.thrift_spec])
        parts = [encode_message_header(method, TMessageType.CALL, seqid), body]
        sock = self._sock
        self._guarded(lambda: send_frame(sock, parts) if self._sasl else send_parts(sock, parts))
        return seqid

    # --- receiving ---

    def _read_result(self, method: str, seqid: int) -> Any:
        iprot = self._iprot
        message_type = self._check_header(method, seqid, *iprot.readMessageBegin())
        if message_type == TMessageType.EXCEPTION:
            error = TApplicationException()
            error.read(iprot)
            self._check_consumed()
            raise error
        result = getattr(TCLIService, f"{method}_result")()
        result.read(iprot)
        self._check_consumed()
        if result.success is None:
            raise TApplicationException(
                TApplicationException.MISSING_RESULT, f"{method} failed: unknown result"
            )
        return result.success

    def _check_consumed(self) -> None:
        if self._frames is not None and self._frames.pending():
            raise ProtocolError(f"{self._frames.pending()} unexpected bytes after a reply")

    def _read_raw(self, method: str, seqid: int) -> bytes:
        if self._buffered is not None:
            return self._read_raw_unframed(self._buffered, method, seqid)
        # Servers write one frame per message (one flush per reply).
        frame = self._read_frame()
        name, message_type, reply_seqid, _ = parse_message_header(frame)
        self._check_header(method, seqid, name, message_type, reply_seqid)
        return frame

    def _read_reply_frame(self, message: bytes, header_length: int) -> bytes:
        reply = self._read_frame()
        # Same version and name length, name and seqid; type REPLY or EXCEPTION.
        if (
            len(reply) < header_length
            or reply[:3] != message[:3]
            or reply[3] not in _REPLY_TYPES
            or reply[4:header_length] != message[4:header_length]
        ):
            name, message_type, seqid, _ = parse_message_header(message)
            self._check_header(name, seqid, *parse_message_header(reply)[:3])
            raise ProtocolError(f"{name} reply does not match its call")
        return reply

    def _read_raw_unframed(self, buffered: TBufferedTransport, method: str, seqid: int) -> bytes:
        recorder = _RecordingTransport(buffered)
        iprot = TBinaryProtocol(
            recorder,
            strictRead=True,
            string_length_limit=self._max_message_size,
            container_length_limit=self._max_message_size,
        )
        self._check_header(method, seqid, *iprot.readMessageBegin())
        skip(iprot, TType.STRUCT)
        return b"".join(recorder.chunks)

    def _check_header(
        self, method: str, seqid: int, name: str, message_type: int, reply_seqid: int
    ) -> int:
        """Return the reply's message type; raise if the reply is not ours (stream out of step)."""
        if name != method:
            raise ProtocolError(f"{method} call got a reply for {name!r}")
        if reply_seqid != seqid:
            raise ProtocolError(f"{method} call got seqid {reply_seqid} instead of {seqid}")
        if message_type not in (TMessageType.REPLY, TMessageType.EXCEPTION):
            raise ProtocolError(f"{method} reply has message type {message_type}")
        return message_type

    def _read_frame(self) -> bytes:
        reader = self._reader
        header = reader.read(_U32.size)
        if len(header) < _U32.size:
            raise _closed_inside("a frame header")
        (length,) = _U32.unpack(header)
        if length > self._max_message_size:
            raise ProtocolError(
                f"frame of {length} bytes exceeds the limit {self._max_message_size}"
            )
        frame = reader.read(length)
        if len(frame) < length:
            raise _closed_inside("a frame")
        return frame

    def _read_exact(self, size: int, what: str) -> bytes:
        data = self._reader.read(size)
        if len(data) < size:
            raise _closed_inside(what)
        return data

    def _input_protocol(self) -> TBinaryProtocolAccelerated:
        transport: TTransportBase
        if self._sasl:
            transport = self._frames = _FrameReadTransport(self._read_frame)
        else:
            handle = TSocket()
            handle.setHandle(self._sock)
            transport = self._buffered = TBufferedTransport(handle)
        return TBinaryProtocolAccelerated(
            transport,
            strictRead=True,
            fallback=False,
            string_length_limit=self._max_message_size,
            container_length_limit=self._max_message_size,
        )

    def _guarded(self, action: Callable[[], _T]) -> _T:
        """Run ``action``; on anything that desynchronises the stream, close the connection."""
        try:
            return action()
        except TApplicationException:
            raise  # a complete EXCEPTION reply: the stream is still in step
        except BaseException as exc:
            self._raise_broken(exc)

    def _raise_broken(self, exc: BaseException) -> NoReturn:
        """Close the connection after ``exc`` left the stream out of step, and raise: socket
        errors as transport errors, anything else as it is."""
        self.close()
        if isinstance(exc, TimeoutError):
            raise TTransportException(TTransportException.TIMED_OUT, "timed out", exc) from exc
        if isinstance(exc, OSError):
            raise TTransportException(TTransportException.UNKNOWN, str(exc), exc) from exc
        raise exc
