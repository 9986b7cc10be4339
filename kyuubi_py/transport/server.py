"""The HS2 binary Thrift server: our own accept loop, one thread per busy connection.

Thrift's ``TServer`` classes are not used: ``TThreadedServer`` has no connection limit and builds
its transport outside its error handling (reference/reliability.md section 1.5), and none of them
can serve SASL and NOSASL on one port or enforce a frame limit before allocating.

Per connection (reference/hs2-protocol.md section 2):

- the first byte is peeked within ``login_timeout_s``: ``0x80`` is a NOSASL client (an unframed,
  strict binary message) when NOSASL is allowed; anything else goes to the SASL negotiation, which
  answers bytes that are not a SASL START with ERROR "Invalid status N" as Java's server does;
- SASL: a PLAIN negotiation (:mod:`kyuubi_py.transport.sasl`) bounded by the login timeout as a
  whole (a client dribbling bytes cannot hold a thread), then ``u32 length | message`` frames,
  one message per frame (every HS2 client flushes once per call), checked against
  ``max_message_size`` before anything is read or allocated;
- then no read timeout: idle clients may wait as long as they like. A framed connection with no
  request for ``idle_thread_keepalive_s`` gives up its thread: one shared watcher thread selects
  on idle sockets and starts a new thread for the next request (:class:`_IdleConnections`).

Every failure closes only its own connection, with a logged reason; client mistakes are logged
without a traceback. Threads are limited by a semaphore taken *before* ``accept``, so excess
clients wait in the listen backlog instead of costing a thread each.
"""

from __future__ import annotations

import io
import itertools
import logging
import selectors
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport, TTransportException

from kyuubi_py.errors import AuthenticationError, ProtocolError
from kyuubi_py.protocol.dispatch import Buffer, Dispatcher
from kyuubi_py.transport.sasl import (
    DEFAULT_MAX_PAYLOAD,
    Authenticated,
    Authenticator,
    NeedData,
    SaslServer,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ConnectionContext",
    "ThriftServer",
    "frame_parts",
    "open_reader",
    "send_frame",
    "send_parts",
]

logger = logging.getLogger(__name__)

#: ``kyuubi.frontend.thrift.max.message.size`` default (100 MiB, libthrift's default too).
DEFAULT_MAX_MESSAGE_SIZE: Final = 104_857_600
SASL_START: Final = 0x01
BINARY_VERSION_BYTE: Final = 0x80
LISTEN_BACKLOG: Final = 1024
#: Abstract Unix sockets (Linux): a gateway reaches an engine on its own host through one.
LOCAL_SOCKETS: Final = sys.platform.startswith("linux")
#: The client host of a connection over the local socket.
LOCAL_CLIENT_HOST: Final = "localhost"
#: Per-connection read buffer. Requests are small and frames larger than the buffer are read
#: straight into their own bytes, so a small buffer costs nothing in throughput and keeps idle
#: connections cheap (hundreds of them per gateway).
_READ_BUFFER = 8 * 1024
_U32 = struct.Struct(">I")
# sendmsg takes at most IOV_MAX (1024 on Linux) buffers per call.
_MAX_IOV = 512

CloseCallback = Callable[[], object]


# --- socket I/O helpers (shared with transport.client) -----------------------------------------


class _SocketRawIO(io.RawIOBase):
    """Raw reads from a socket, served first from bytes already received elsewhere.

    ``delivered`` counts the bytes handed to the buffered reader above, and the frame loop
    counts the bytes it has consumed in ``consumed``: when the two are equal the reader holds
    nothing, so a receive timeout (``SO_RCVTIMEO``) there means an idle client, and
    :class:`_Idle` is raised. A timeout anywhere else (a frame arriving slowly) is waited out.
    """

    def __init__(self, sock: socket.socket, prefix: bytes = b"") -> None:
        super().__init__()
        self._sock = sock
        self._prefix = memoryview(prefix)
        self.delivered = 0
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            self.delivered += n
            return n
        while True:
            try:
                n = self._sock.recv_into(buffer)
            except BlockingIOError:  # the receive timeout of an idle-aware connection
                if self.delivered == self.consumed:
                    raise _Idle from None
                continue
            self.delivered += n
            return n


class _Idle(Exception):
    """No request arrived within the idle thread keep-alive time, and none is half received."""


def open_reader(sock: socket.socket, prefix: bytes = b"") -> io.BufferedReader:
    """A buffered reader over ``sock`` that first yields ``prefix``.

    ``read(n)`` returns fewer than ``n`` bytes only at EOF, and for a large ``n`` receives straight
    into the returned ``bytes`` object (no extra copy of big frames).
    """
    return io.BufferedReader(_SocketRawIO(sock, prefix), _READ_BUFFER)


def send_parts(sock: socket.socket, parts: Sequence[Buffer], sent: int = 0) -> None:
    """Send the concatenation of ``parts`` with ``sendmsg``, without joining them; ``sent``:
    how many of its bytes are already sent."""
    pending: list[Buffer] = [part for part in parts if _nbytes(part)]
    start = _advance(pending, 0, sent)
    while start < len(pending):
        sent = sock.sendmsg(pending[start : start + _MAX_IOV])
        start = _advance(pending, start, sent)


def send_frame(sock: socket.socket, parts: Sequence[Buffer]) -> None:
    """Send ``parts`` as one SASL-transport frame (see :func:`frame_parts`)."""
    if len(parts) == 1 and type(parts[0]) is bytes:
        # One message as bytes (every relayed reply): a single sendmsg, no bookkeeping unless the
        # socket buffer takes only part of it.
        message = parts[0]
        framed = [_U32.pack(len(message)), message]
        sent = sock.sendmsg(framed)
        if sent < len(message) + 4:
            send_parts(sock, framed, sent)
        return
    send_parts(sock, frame_parts(parts))


def _advance(pending: list[Buffer], start: int, sent: int) -> int:
    """Index of the first part not fully sent; a partly sent part is trimmed in place."""
    while sent:
        size = _nbytes(pending[start])
        if sent < size:
            pending[start] = memoryview(pending[start]).cast("B")[sent:]
            return start
        sent -= size
        start += 1
    return start


def frame_parts(parts: Sequence[Buffer]) -> list[Buffer]:
    """``parts`` prefixed with their total length as a ``u32`` (one SASL-transport frame)."""
    return [_U32.pack(sum(_nbytes(part) for part in parts)), *parts]


def _nbytes(part: Buffer) -> int:
    return part.nbytes if isinstance(part, memoryview) else len(part)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already disconnected


# --- connections -------------------------------------------------------------------------------


@dataclass(eq=False)
class ConnectionContext:
    """What a handler knows about its connection; close callbacks run exactly once."""

    connection_id: int
    client_host: str
    client_port: int
    user: str | None
    transport: str
    _callbacks: list[CloseCallback] = field(default_factory=list, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def add_close_callback(self, callback: CloseCallback) -> None:
        """Run ``callback`` when the connection ends (at once if it already has)."""
        with self._lock:
            if not self._closed:
                self._callbacks.append(callback)
                return
        self._run(callback)

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._run(callback)

    def _run(self, callback: CloseCallback) -> None:
        try:
            callback()
        except Exception:
            logger.exception("close callback of connection %d failed", self.connection_id)


@dataclass(eq=False)
class _Connection:
    connection_id: int
    sock: socket.socket
    client_host: str
    client_port: int
    thread: threading.Thread | None = None
    context: ConnectionContext | None = None
    #: The handler of a logged-in framed (SASL) connection, kept while it idles without a thread.
    dispatcher: Dispatcher | None = None

    def describe(self) -> str:
        return f"connection {self.connection_id} from {self.client_host}:{self.client_port}"


class _ClientGone(Exception):
    """The client disconnected; nothing to report beyond a debug line."""


def _timeval(seconds: float) -> bytes:
    """``struct timeval`` for ``SO_RCVTIMEO``."""
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1e6))


class _IdleConnections:
    """Logged-in framed connections waiting for their next request without a thread of their
    own: one watcher thread (started with the first) selects on their sockets and hands each
    back to ``resume`` when a request or the end of the connection arrives.

    A thread blocked on an idle client keeps its stack, its Python thread state and its reader's
    buffer: about 20 KB per connection here (200 idle connections, ``/proc`` RSS and smaps). BI
    tools and connection pools keep hundreds of connections open and idle.
    """

    def __init__(self, resume: Callable[[_Connection], None], name: str) -> None:
        self._resume = resume
        self._name = name
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, connection: _Connection) -> bool:
        """Watch ``connection``; false once closed (the caller keeps or ends the connection)."""
        with self._lock:
            if self._closed:
                return False
            self._selector.register(connection.sock, selectors.EVENT_READ, connection)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name=f"{self._name}-idle", daemon=True
                )
                self._thread.start()
        self._wake()  # a poll()-based selector sees new sockets only from its next call
        return True

    def close(self) -> list[_Connection]:
        """Stop watching; the connections still idle, for the caller to end."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            idle = self._watched()
        self._wake()
        if self._thread is not None:
            self._thread.join(10.0)
        self._release()
        return idle

    def _watched(self) -> list[_Connection]:
        """The connections being watched (the wake-up socket's key has no data); under the lock."""
        return [key.data for key in self._selector.get_map().values() if key.data is not None]

    def _release(self) -> None:
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # already woken (a full buffer) or closed

    def _watch(self) -> None:
        try:
            self._select_until_closed()
        except Exception:
            # Never strand a connection on a dead watcher: every one gets its thread back, and
            # from now on connections keep their threads while idle (add() refuses them).
            logger.exception("%s: the idle connection watcher failed", self._name)
            with self._lock:
                self._closed = True
                idle = self._watched()
                self._release()
            for connection in idle:
                self._resume(connection)

    def _select_until_closed(self) -> None:
        while True:
            events = self._selector.select()
            ready: list[_Connection] = []
            with self._lock:
                if self._closed:
                    return
                for key, _ in events:
                    if key.data is None:
                        self._drain_wakeups()
                    else:
                        self._selector.unregister(key.fileobj)
                        ready.append(key.data)
            for connection in ready:
                self._resume(connection)

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass


# --- the server --------------------------------------------------------------------------------


class ThriftServer:
    """Serves TCLIService over the binary transport (SASL PLAIN and/or NOSASL on one port)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        handler_factory: Callable[[ConnectionContext], object],
        authenticate: Authenticator | None = None,
        allow_nosasl: bool = False,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_workers: int = 999,
        login_timeout_s: float = 20.0,
        max_sasl_payload: int = DEFAULT_MAX_PAYLOAD,
        idle_thread_keepalive_s: float = 1.0,
        local_socket_name: str | None = None,
        name: str = "thrift-binary",
    ) -> None:
        if authenticate is None and not allow_nosasl:
            raise ValueError("no transport allowed: set authenticate and/or allow_nosasl")
        if min(max_workers, max_message_size, login_timeout_s, idle_thread_keepalive_s) <= 0:
            raise ValueError(
                "max_workers, max_message_size, login_timeout_s and idle_thread_keepalive_s "
                "must be positive"
            )
        self._host = host
        self._requested_port = port
        self._handler_factory = handler_factory
        self._authenticate = authenticate
        self._allow_nosasl = allow_nosasl
        self._max_message_size = max_message_size
        self._login_timeout_s = login_timeout_s
        self._max_sasl_payload = max_sasl_payload
        self._idle_receive_timeout = _timeval(idle_thread_keepalive_s)
        self._idle = _IdleConnections(self._resume, name)
        self._name = name
        self._slots = threading.Semaphore(max_workers)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[int, _Connection] = {}
        self._ids = itertools.count(1)
        self._local_socket_name = local_socket_name if LOCAL_SOCKETS else None
        self._listeners: list[socket.socket] = []
        self._accept_threads: list[threading.Thread] = []
        self._port: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when constructed with port 0)."""
        if self._port is None:
            raise RuntimeError(f"{self._name} is not started")
        return self._port

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    @property
    def local_socket_name(self) -> str | None:
        """The abstract Unix socket name served besides the TCP port (Linux), if any."""
        return self._local_socket_name if len(self._listeners) > 1 else None

    def start(self) -> None:
        if self._listeners or self._stopping.is_set():
            raise RuntimeError(f"{self._name} can be started only once")
        tcp = _listen(self._host, self._requested_port)
        self._listeners.append(tcp)
        self._port = tcp.getsockname()[1]
        if self._local_socket_name:
            try:
                self._listeners.append(_listen_local(self._local_socket_name))
            except OSError as exc:  # an optimisation only: TCP serves everyone
                logger.warning(
                    "%s: no local socket %r: %s", self._name, self._local_socket_name, exc
                )
        for listener in self._listeners:
            thread = threading.Thread(
                target=self._accept_loop,
                args=(listener,),
                name=f"{self._name}-accept-{listener.family.name}",
                daemon=True,
            )
            self._accept_threads.append(thread)
            thread.start()
        logger.info("%s listening on %s:%d", self._name, self._host, self._port)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, disconnect every client and run their close callbacks."""
        deadline = time.monotonic() + timeout_s
        self._stopping.set()
        for listener in self._listeners:
            self._slots.release()  # wakes an acceptor waiting for a free slot
            _shutdown(listener)  # wakes a blocked accept() (closing alone does not)
            listener.close()
        for thread in self._accept_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for connection in self._idle.close():
            self._finish(connection)
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            _shutdown(connection.sock)
        for connection in connections:
            self._join(connection, deadline)
        logger.info("%s stopped", self._name)

    def _join(self, connection: _Connection, deadline: float) -> None:
        if connection.thread is not None:
            connection.thread.join(max(0.0, deadline - time.monotonic()))
            if connection.thread.is_alive():
                logger.warning("%s did not finish before the stop timeout", connection.describe())
        # Normally done by the connection's own thread; this covers one stuck in a handler.
        if connection.context is not None:
            connection.context._close()

    # --- accepting ---

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            self._slots.acquire()
            if self._stopping.is_set():
                return
            try:
                sock, address = listener.accept()
            except OSError as exc:
                self._slots.release()
                if self._stopping.is_set():
                    return
                # E.g. EMFILE: back off instead of spinning; the backlog keeps the client.
                logger.warning("%s accept failed: %s", self._name, exc)
                time.sleep(0.1)
                continue
            self._spawn(sock, address)

    def _spawn(self, sock: socket.socket, address: Any) -> None:
        if sock.family == socket.AF_UNIX:  # a local client: no address of its own
            host, port = LOCAL_CLIENT_HOST, 0
        else:
            host, port = str(address[0]), int(address[1])
        connection = _Connection(next(self._ids), sock, host, port)
        with self._lock:
            self._connections[connection.connection_id] = connection
        self._start_thread(connection, self._serve)

    def _resume(self, connection: _Connection) -> None:
        """An idle connection's next request (or its end) arrived: serve it on a new thread."""
        self._start_thread(connection, self._serve_frames)

    def _start_thread(self, connection: _Connection, serve: Callable[[_Connection], bool]) -> None:
        thread = threading.Thread(
            target=self._run_connection,
            args=(connection, serve),
            name=f"{self._name}-conn-{connection.connection_id}",
            daemon=True,
        )
        connection.thread = thread
        try:
            thread.start()
        except RuntimeError:
            logger.exception("cannot start a thread for %s", connection.describe())
            self._finish(connection)

    # --- one connection ---

    def _run_connection(
        self, connection: _Connection, serve: Callable[[_Connection], bool]
    ) -> None:
        """Run ``serve`` (true: the connection went idle) with the per-connection error handling;
        then the connection waits without a thread, or ends."""
        logger.debug("%s served by %s", connection.describe(), threading.current_thread().name)
        watched = False
        try:
            while serve(connection):
                watched = self._idle.add(connection)
                if watched:
                    return  # idle: watched without a thread from now on
                if self._stopping.is_set():
                    break
                serve = self._serve_frames  # no watcher: keep the thread for the next request
        except _ClientGone as exc:
            logger.debug("%s closed by the client %s", connection.describe(), exc)
        except ProtocolError as exc:
            logger.warning("closing %s: %s", connection.describe(), exc)
        except OSError as exc:
            level = logging.DEBUG if self._stopping.is_set() else logging.INFO
            logger.log(level, "%s dropped: %s", connection.describe(), exc)
        except Exception:
            logger.exception("closing %s after an unexpected error", connection.describe())
        finally:
            if not watched:
                self._finish(connection)

    def _finish(self, connection: _Connection) -> None:
        try:
            connection.sock.close()
        finally:
            if connection.context is not None:
                connection.context._close()
            with self._lock:
                self._connections.pop(connection.connection_id, None)
            self._slots.release()
            logger.debug("%s finished", connection.describe())

    def _serve(self, connection: _Connection) -> bool:
        """Log the client in, then serve it; true when it went idle (framed connections only)."""
        sock = connection.sock
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # No read timeout after login: keepalive notices a vanished idle client.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        deadline = time.monotonic() + self._login_timeout_s
        first = self._peek_first_byte(sock, deadline)
        if first == BINARY_VERSION_BYTE and self._allow_nosasl:
            sock.settimeout(None)
            handler = self._open(connection, None, "NOSASL")
            self._serve_unframed(sock, Dispatcher(handler))
            return False
        if self._authenticate is None:
            raise ProtocolError(f"first byte {first:#04x} is not a NOSASL message (SASL disabled)")
        user, trailing = self._negotiate(sock, deadline)
        sock.settimeout(None)
        # The kernel's receive timeout (the socket stays blocking for Python) is how the frame
        # loop learns that the client went idle, at no cost per request.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, self._idle_receive_timeout)
        connection.dispatcher = Dispatcher(self._open(connection, user, "SASL"))
        return self._serve_frames(connection, trailing)

    def _peek_first_byte(self, sock: socket.socket, deadline: float) -> int:
        first = self._recv_before(sock, deadline, 1, socket.MSG_PEEK)
        return first[0]

    def _recv_before(
        self, sock: socket.socket, deadline: float, size: int, flags: int = 0
    ) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProtocolError(f"no login within {self._login_timeout_s:g} s")
        sock.settimeout(remaining)
        try:
            data = sock.recv(size, flags)
        except TimeoutError:
            raise ProtocolError(f"no login within {self._login_timeout_s:g} s") from None
        if not data:
            raise _ClientGone("before login")
        return data

    def _negotiate(self, sock: socket.socket, deadline: float) -> tuple[str, bytes]:
        """Run the SASL PLAIN negotiation; return the user and any bytes received after it."""
        machine = SaslServer(self._checked_authenticate, self._max_sasl_payload)
        while True:
            event = machine.next_event()
            if isinstance(event, NeedData):
                machine.receive_data(self._recv_before(sock, deadline, 4096))
            elif isinstance(event, Authenticated):
                sock.sendall(event.reply)
                return event.user, machine.trailing_data
            else:
                if event.reply:
                    sock.sendall(event.reply)
                raise ProtocolError(f"SASL negotiation failed: {event.reason}")

    def _checked_authenticate(self, user: str, password: str) -> str:
        assert self._authenticate is not None
        try:
            return self._authenticate(user, password)
        except AuthenticationError:
            raise
        except Exception as exc:
            # A server fault (e.g. LDAP unreachable): full details in our log, none to the client.
            logger.exception("authenticating user %r failed", user)
            raise AuthenticationError("Error validating the login") from exc

    def _open(self, connection: _Connection, user: str | None, transport: str) -> object:
        context = ConnectionContext(
            connection.connection_id,
            connection.client_host,
            connection.client_port,
            user,
            transport,
        )
        connection.context = context
        logger.debug("%s logged in over %s as %r", connection.describe(), transport, user)
        return self._handler_factory(context)

    def _serve_frames(self, connection: _Connection, trailing: bytes = b"") -> bool:
        """Serve SASL-transport frames until the client leaves (raises) or goes idle (true).

        An idle connection keeps no reader: its buffer is empty by then, and a new one is cheap.
        """
        sock, dispatcher = connection.sock, connection.dispatcher
        assert dispatcher is not None
        raw = _SocketRawIO(sock, trailing)
        reader = io.BufferedReader(raw, _READ_BUFFER)
        limit = self._max_message_size
        while True:
            try:
                header = reader.read(4)
            except _Idle:
                return True
            if len(header) < 4:
                raise _ClientGone("between frames" if not header else "inside a frame header")
            (length,) = _U32.unpack(header)
            if length > limit:
                raise ProtocolError(
                    f"frame of {length} bytes exceeds "
                    f"kyuubi.frontend.thrift.max.message.size ({limit})"
                )
            frame = reader.read(length)
            if len(frame) < length:
                raise _ClientGone(f"inside a frame ({len(frame)} of {length} bytes)")
            raw.consumed += 4 + length
            try:
                send_frame(sock, dispatcher.process_frame(frame))
            finally:
                dispatcher.after_reply()

    def _serve_unframed(self, sock: socket.socket, dispatcher: Dispatcher) -> None:
        handle = TSocket()
        handle.setHandle(sock)
        limit = self._max_message_size
        iprot = TBinaryProtocolAccelerated(
            TBufferedTransport(handle, _READ_BUFFER),
            strictRead=True,
            fallback=False,
            string_length_limit=limit,
            container_length_limit=limit,
        )
        while True:
            try:
                reply = dispatcher.process_stream(iprot)
            except TTransportException as exc:
                raise _ClientGone(f"({exc})") from exc
            send_parts(sock, reply)


def _listen_local(name: str) -> socket.socket:
    """A listener on the abstract Unix socket ``name`` (no file: it goes with the process)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(f"\0{name}")
        listener.listen(LISTEN_BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(LISTEN_BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener
