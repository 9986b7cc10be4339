"""Sans-IO SASL PLAIN server negotiation for the Thrift SASL transport.

There is no networking code here (the h11 pattern): the socket shell feeds received bytes with
:meth:`SaslServer.receive_data` and loops on :meth:`SaslServer.next_event` until it gets something
other than :data:`NEED_DATA`, then sends the event's ``reply`` bytes.

Wire format of every negotiation message, in both directions (apache/thrift ``TSaslTransport``)::

    status:u8 | length:u32 big-endian | payload

PLAIN exchange as real clients perform it (see reference/hs2-protocol.md section 2.1):

1. client ``START "PLAIN"`` (the mechanism name);
2. client ``[authzid] NUL authcid NUL password``, with status OK (Python ``thrift_sasl``) or
   COMPLETE (Java ``TSaslClientTransport``);
3. server ``COMPLETE`` with an empty payload, or ``BAD <message>`` and the connection closes.

Rules (the whole state machine lives in this file):

- Statuses are checked as soon as their byte arrives and lengths as soon as the 5-byte header is
  complete, so a peer can never make us wait for (or buffer) a payload we will reject anyway
  (CVE-2020-13949: never allocate a declared size before validating it).
- Authentication success is an explicit state, not an assertion (CVE-2018-1320).
- The session identity is the authcid; the authzid is never used.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

from kyuubi_py.errors import AuthenticationError

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "NEED_DATA",
    "Authenticated",
    "Event",
    "NeedData",
    "Rejected",
    "SaslServer",
    "SaslState",
    "Status",
    "encode_message",
    "parse_plain",
]

#: Same bound as thrift's ``DEFAULT_MAX_SASL_NEGOTIATION_SIZE``: a PLAIN exchange is tiny.
DEFAULT_MAX_PAYLOAD = 1024 * 1024

MECHANISM = "PLAIN"
HEADER = struct.Struct(">Bi")

# Client-facing messages match Hive's PlainSaslServer / Java TSaslTransport wording; clients and
# their users recognise them, and they reveal nothing about which check failed.
MSG_INVALID_FORMAT = "Invalid message format"
MSG_LOGIN_FAILED = "Error validating the login"
# Unsupported mechanism names are echoed back; cap them so a 10 KB name is not reflected.
_MAX_ECHOED_MECHANISM = 64


class Status(enum.IntEnum):
    START = 1
    OK = 2
    BAD = 3
    ERROR = 4
    COMPLETE = 5


class SaslState(enum.Enum):
    AWAIT_START = "AWAIT_START"
    AWAIT_RESPONSE = "AWAIT_RESPONSE"
    AUTHENTICATED = "AUTHENTICATED"
    FAILED = "FAILED"


#: Which client statuses each state accepts; anything else gets ERROR "Invalid status N".
_ACCEPTED: dict[SaslState, frozenset[int]] = {
    SaslState.AWAIT_START: frozenset({Status.START}),
    SaslState.AWAIT_RESPONSE: frozenset({Status.OK, Status.COMPLETE}),
    SaslState.AUTHENTICATED: frozenset(),
    SaslState.FAILED: frozenset(),
}
_PEER_FAILURE = frozenset({Status.BAD, Status.ERROR})


@dataclass(frozen=True, slots=True)
class NeedData:
    """More bytes are needed before anything can be decided."""


NEED_DATA = NeedData()


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Negotiation succeeded: send ``reply``, then switch to length-framed messages."""

    user: str
    reply: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """Negotiation failed: send ``reply`` (may be empty), then close the connection.

    ``reason`` is for the server log; the client sees only the message inside ``reply``.
    """

    reason: str
    reply: bytes


Event = NeedData | Authenticated | Rejected

Authenticator = Callable[[str, str], str]


def encode_message(status: Status, payload: bytes = b"") -> bytes:
    """One negotiation message: ``status:u8 | length:u32 BE | payload``."""
    return HEADER.pack(status, len(payload)) + payload


def parse_plain(payload: bytes) -> tuple[str, str]:
    """Split a PLAIN initial response into ``(authcid, password)``.

    Raises ``ValueError`` with the client-facing message: :data:`MSG_INVALID_FORMAT` unless the
    payload is exactly 2 or 3 NUL-separated UTF-8 tokens, :data:`MSG_LOGIN_FAILED` if the user or
    the password is empty.
    """
    tokens = payload.split(b"\0")
    if not 2 <= len(tokens) <= 3:
        raise ValueError(MSG_INVALID_FORMAT)
    try:
        user = tokens[-2].decode("utf-8")
        password = tokens[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(MSG_INVALID_FORMAT) from None
    if not user or not password:
        raise ValueError(MSG_LOGIN_FAILED)
    return user, password


class SaslServer:
    """Server side of one SASL PLAIN negotiation.

    ``authenticate(user, password)`` returns the canonical user name or raises
    :class:`~kyuubi_py.errors.AuthenticationError`, whose message is sent to the client. Any other
    exception propagates to the caller unchanged (it is a server fault, not the client's).
    """

    def __init__(self, authenticate: Authenticator, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        if max_payload < 0:
            raise ValueError(f"max_payload must be >= 0, got {max_payload}")
        self._authenticate = authenticate
        self._max_payload = max_payload
        self._buffer = bytearray()
        self._state = SaslState.AWAIT_START

    @property
    def state(self) -> SaslState:
        return self._state

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after the final negotiation message: the start of the framed stream."""
        return bytes(self._buffer)

    def receive_data(self, data: bytes) -> None:
        if self._state in (SaslState.AUTHENTICATED, SaslState.FAILED):
            raise RuntimeError(f"SASL negotiation is over ({self._state.value})")
        self._buffer += data

    def next_event(self) -> Event:
        """Decide on the buffered bytes: ``NEED_DATA``, or a terminal event (returned once)."""
        if self._state in (SaslState.AUTHENTICATED, SaslState.FAILED):
            raise RuntimeError(f"SASL negotiation is over ({self._state.value})")
        message = self._take_message()
        if isinstance(message, (NeedData, Rejected)):
            return message
        if self._state is SaslState.AWAIT_START:
            return self._on_start(message)
        return self._on_response(message)

    def _take_message(self) -> NeedData | Rejected | bytes:
        """Pop the payload of one complete, valid message, failing as early as possible."""
        buffer = self._buffer
        if not buffer:
            return NEED_DATA
        status = buffer[0]
        if status not in _ACCEPTED[self._state]:
            return self._bad_status(status)
        if len(buffer) < HEADER.size:
            return NEED_DATA
        _, length = HEADER.unpack_from(buffer)
        if length < 0 or length > self._max_payload:
            return self._fail(
                Status.ERROR,
                f"Invalid payload header length: {length}",
                f"declared SASL payload length {length} (max {self._max_payload})",
            )
        end = HEADER.size + length
        if len(buffer) < end:
            return NEED_DATA
        payload = bytes(buffer[HEADER.size : end])
        del buffer[:end]
        return payload

    def _bad_status(self, status: int) -> Rejected:
        if status in _PEER_FAILURE:
            # The peer gave up; Java answers nothing and closes ("Peer indicated failure").
            self._state = SaslState.FAILED
            self._buffer.clear()
            return Rejected(f"client sent SASL status {Status(status).name}", b"")
        # Java reads the status as a signed byte: a raw binary client shows "Invalid status -128".
        signed = status - 256 if status > 127 else status
        message = f"Invalid status {signed}"
        return self._fail(Status.ERROR, message, f"{message} in state {self._state.value}")

    def _on_start(self, payload: bytes) -> Event:
        if payload != MECHANISM.encode("ascii"):
            name = payload[:_MAX_ECHOED_MECHANISM].decode("utf-8", "replace")
            message = f"Unsupported mechanism type {name}"
            return self._fail(Status.BAD, message, message)
        self._state = SaslState.AWAIT_RESPONSE
        # PLAIN has no server challenge: the client sends its response without waiting.
        return self.next_event()

    def _on_response(self, payload: bytes) -> Event:
        try:
            user, password = parse_plain(payload)
        except ValueError as exc:
            return self._fail(Status.BAD, str(exc), f"malformed PLAIN response: {exc}")
        try:
            canonical = self._authenticate(user, password)
        except AuthenticationError as exc:
            return self._fail(Status.BAD, str(exc), f"user {user!r} rejected: {exc}")
        self._state = SaslState.AUTHENTICATED
        return Authenticated(canonical, encode_message(Status.COMPLETE))

    def _fail(self, status: Status, message: str, reason: str) -> Rejected:
        self._state = SaslState.FAILED
        self._buffer.clear()
        return Rejected(reason, encode_message(status, message.encode("utf-8")))
