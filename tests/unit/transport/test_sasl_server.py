"""The sans-IO SASL PLAIN server: every status byte, every split, every malformed payload."""

from __future__ import annotations

import random
import struct

import pytest

from kyuubi_py.errors import AuthenticationError
from kyuubi_py.transport.sasl import (
    NEED_DATA,
    Authenticated,
    Event,
    Rejected,
    SaslServer,
    SaslState,
    Status,
    encode_message,
    parse_plain,
)

pytestmark = pytest.mark.timeout(30)

COMPLETE_REPLY = b"\x05\x00\x00\x00\x00"
START_PLAIN = encode_message(Status.START, b"PLAIN")


class Recorder:
    """An authenticator that accepts one password and records what it was asked."""

    def __init__(self, password: str = "secret") -> None:
        self.password = password
        self.calls: list[tuple[str, str]] = []

    def __call__(self, user: str, password: str) -> str:
        self.calls.append((user, password))
        if password != self.password:
            raise AuthenticationError("Error validating the login")
        return user.lower()


def run(data: bytes, authenticate: Recorder | None = None, max_payload: int = 1024) -> Event:
    server = SaslServer(authenticate or Recorder(), max_payload)
    server.receive_data(data)
    return server.next_event()


def reply_of(event: Event) -> tuple[int, str]:
    """Decode a reply message into (status, text), checking its declared length."""
    assert isinstance(event, (Authenticated, Rejected))
    status, length = struct.unpack(">Bi", event.reply[:5])
    assert length == len(event.reply) - 5
    return status, event.reply[5:].decode("utf-8")


def response(payload: bytes, status: Status = Status.COMPLETE) -> bytes:
    return START_PLAIN + encode_message(status, payload)


# --- success ---


@pytest.mark.parametrize("status", [Status.OK, Status.COMPLETE], ids=["python-OK", "java-COMPLETE"])
def test_plain_login_with_either_response_status(status: Status) -> None:
    authenticate = Recorder()
    event = run(response(b"\0Alice\0secret", status), authenticate)
    assert event == Authenticated("alice", COMPLETE_REPLY)
    assert authenticate.calls == [("Alice", "secret")]


def test_identity_is_the_authcid_never_the_authzid() -> None:
    authenticate = Recorder()
    event = run(response(b"admin\0alice\0secret"), authenticate)
    assert isinstance(event, Authenticated) and event.user == "alice"
    assert authenticate.calls == [("alice", "secret")]


def test_utf8_credentials_are_decoded() -> None:
    authenticate = Recorder(password="pässwörd")
    event = run(response("\0Jürgen\0pässwörd".encode()), authenticate)
    assert event == Authenticated("jürgen", COMPLETE_REPLY)


def test_input_fed_one_byte_at_a_time() -> None:
    data = response(b"\0bob\0secret")
    server = SaslServer(Recorder(), 1024)
    for byte in data[:-1]:
        server.receive_data(bytes([byte]))
        assert server.next_event() is NEED_DATA
    server.receive_data(data[-1:])
    assert server.next_event() == Authenticated("bob", COMPLETE_REPLY)
    assert server.trailing_data == b""


def test_bytes_after_the_handshake_are_trailing_data() -> None:
    server = SaslServer(Recorder(), 1024)
    server.receive_data(response(b"\0bob\0secret") + b"\x00\x00\x00\x10frame")
    assert isinstance(server.next_event(), Authenticated)
    assert server.trailing_data == b"\x00\x00\x00\x10frame"


def test_start_alone_needs_data() -> None:
    server = SaslServer(Recorder(), 1024)
    server.receive_data(START_PLAIN)
    assert server.next_event() is NEED_DATA
    assert server.state is SaslState.AWAIT_RESPONSE


def test_payload_of_exactly_the_maximum_is_accepted() -> None:
    payload = b"\0bob\0" + b"s" * (64 - 5)
    event = run(response(payload), Recorder(password="s" * 59), max_payload=64)
    assert isinstance(event, Authenticated)


# --- status bytes ---

ALL_BYTES = range(256)


@pytest.mark.parametrize("status", ALL_BYTES)
def test_every_status_byte_as_the_first_message(status: int) -> None:
    # Only the status byte arrives: the decision must not wait for a header or payload.
    event = run(bytes([status]))
    if status == Status.START:
        assert event is NEED_DATA
    elif status in (Status.BAD, Status.ERROR):
        assert isinstance(event, Rejected) and event.reply == b""  # peer gave up: no answer
    else:
        signed = status - 256 if status > 127 else status
        assert reply_of(event) == (Status.ERROR, f"Invalid status {signed}")


@pytest.mark.parametrize("status", ALL_BYTES)
def test_every_status_byte_as_the_response_message(status: int) -> None:
    event = run(START_PLAIN + bytes([status]))
    if status in (Status.OK, Status.COMPLETE):
        assert event is NEED_DATA
    elif status in (Status.BAD, Status.ERROR):
        assert isinstance(event, Rejected) and event.reply == b""
    else:
        signed = status - 256 if status > 127 else status
        assert reply_of(event) == (Status.ERROR, f"Invalid status {signed}")


def test_raw_binary_client_sees_java_style_invalid_status() -> None:
    event = run(b"\x80\x01\x00\x01\x00\x00\x00\x0bOpenSession")
    assert reply_of(event) == (Status.ERROR, "Invalid status -128")


@pytest.mark.parametrize("status", [Status.OK, Status.COMPLETE])
def test_response_before_start_is_an_invalid_status(status: Status) -> None:
    event = run(encode_message(status, b"\0bob\0secret"))
    assert reply_of(event) == (Status.ERROR, f"Invalid status {int(status)}")


def test_second_start_is_an_invalid_status() -> None:
    event = run(START_PLAIN + START_PLAIN)
    assert reply_of(event) == (Status.ERROR, "Invalid status 1")


def test_framed_data_before_negotiation_is_an_invalid_status() -> None:
    event = run(b"\x00\x00\x00\x20\x80\x01\x00\x01")
    assert reply_of(event) == (Status.ERROR, "Invalid status 0")


def test_peer_failure_is_rejected_without_reply() -> None:
    event = run(START_PLAIN + encode_message(Status.BAD, b"client gave up"))
    assert isinstance(event, Rejected)
    assert event.reply == b""
    assert "BAD" in event.reason


# --- lengths ---


@pytest.mark.parametrize(
    "length", [b"\xff\xff\xff\xff", b"\x80\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x00\x00\x04\x01"]
)
@pytest.mark.parametrize("status", [Status.START, Status.COMPLETE])
def test_bad_lengths_fail_on_the_header_alone(length: bytes, status: Status) -> None:
    prefix = b"" if status == Status.START else START_PLAIN
    event = run(prefix + bytes([status]) + length)  # no payload sent at all
    code, text = reply_of(event)
    assert code == Status.ERROR
    assert text.startswith("Invalid payload header length")


def test_bad_length_fed_byte_by_byte_is_decided_on_the_fifth_byte() -> None:
    server = SaslServer(Recorder(), 1024)
    data = b"\x01\xff\xff\xff\xff"
    for byte in data[:-1]:
        server.receive_data(bytes([byte]))
        assert server.next_event() is NEED_DATA
    server.receive_data(data[-1:])
    assert reply_of(server.next_event()) == (Status.ERROR, "Invalid payload header length: -1")


def test_truncated_payload_waits_without_deciding() -> None:
    server = SaslServer(Recorder(), 1024)
    server.receive_data(b"\x01\x00\x00\x03\xe8" + b"P" * 10)  # declares 1000, sends 10
    assert server.next_event() is NEED_DATA
    assert server.state is SaslState.AWAIT_START


def test_payload_one_over_the_maximum_is_rejected() -> None:
    event = run(encode_message(Status.START, b"P" * 65), max_payload=64)
    assert reply_of(event) == (Status.ERROR, "Invalid payload header length: 65")


def test_negative_max_payload_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        SaslServer(Recorder(), -1)


# --- mechanisms ---


@pytest.mark.parametrize("mechanism", [b"GSSAPI", b"plain", b"", b"PLAIN\0", b"X" * 10_000])
def test_unsupported_mechanisms(mechanism: bytes) -> None:
    event = run(encode_message(Status.START, mechanism), max_payload=1 << 20)
    code, text = reply_of(event)
    assert code == Status.BAD
    assert text.startswith("Unsupported mechanism type ")
    assert len(text) < 100  # a 10 KB name is not echoed back


# --- PLAIN payloads ---


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "Invalid message format"),
        (b"\0", "Error validating the login"),
        (b"a\0", "Error validating the login"),
        (b"\0\0", "Error validating the login"),
        (b"a\0b\0c\0d", "Invalid message format"),
        (b"\0\0secret", "Error validating the login"),
        (b"\0bob\0", "Error validating the login"),
        (b"bob", "Invalid message format"),
        (b"\0\xff\xfe\0secret", "Invalid message format"),
        (b"\0bob\0\xc3(", "Invalid message format"),
    ],
)
def test_malformed_plain_is_bad_and_never_reaches_the_authenticator(
    payload: bytes, message: str
) -> None:
    authenticate = Recorder()
    event = run(response(payload), authenticate)
    assert reply_of(event) == (Status.BAD, message)
    assert authenticate.calls == []


def test_authenticator_rejection_message_reaches_the_client() -> None:
    def deny(user: str, password: str) -> str:
        raise AuthenticationError("LDAP says no")

    event = run(response(b"\0bob\0secret"), deny)  # type: ignore[arg-type]
    assert reply_of(event) == (Status.BAD, "LDAP says no")
    assert isinstance(event, Rejected) and "bob" in event.reason


def test_wrong_password_is_bad() -> None:
    event = run(response(b"\0bob\0wrong"))
    assert reply_of(event) == (Status.BAD, "Error validating the login")


def test_other_authenticator_errors_propagate() -> None:
    def broken(user: str, password: str) -> str:
        raise RuntimeError("ldap down")

    server = SaslServer(broken, 1024)
    server.receive_data(response(b"\0bob\0secret"))
    with pytest.raises(RuntimeError, match="ldap down"):
        server.next_event()


def test_parse_plain_returns_authcid_and_password() -> None:
    assert parse_plain(b"zid\0cid\0pw") == ("cid", "pw")
    assert parse_plain(b"cid\0pw") == ("cid", "pw")


# --- after the end ---


def test_terminal_events_are_returned_once() -> None:
    server = SaslServer(Recorder(), 1024)
    server.receive_data(response(b"\0bob\0secret"))
    assert isinstance(server.next_event(), Authenticated)
    with pytest.raises(RuntimeError):
        server.next_event()
    with pytest.raises(RuntimeError):
        server.receive_data(b"more")


def test_failure_is_final_and_drops_the_buffer() -> None:
    server = SaslServer(Recorder(), 1024)
    server.receive_data(b"\x09" + b"x" * 100)
    assert isinstance(server.next_event(), Rejected)
    assert server.state is SaslState.FAILED
    assert server.trailing_data == b""
    with pytest.raises(RuntimeError):
        server.receive_data(START_PLAIN)


# --- robustness ---


def test_random_input_never_crashes_or_overreads() -> None:
    rng = random.Random(20240501)
    seeds = [START_PLAIN, response(b"\0bob\0secret"), b"\x01\x00\x00", b"\x05"]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(0, 4)):
            data.insert(rng.randint(0, len(data)), rng.randint(0, 255))
        if data and rng.random() < 0.5:
            del data[rng.randint(0, len(data) - 1)]
        server = SaslServer(Recorder(), 64)
        server.receive_data(bytes(data))
        event = server.next_event()
        assert event is NEED_DATA or isinstance(event, (Authenticated, Rejected))
        if isinstance(event, Rejected) and event.reply:
            assert reply_of(event)[0] in (Status.BAD, Status.ERROR)
