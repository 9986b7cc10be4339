"""The TCLIService dispatcher: decoding, replies, unknown methods, raw relays, binary-safe skip."""

from __future__ import annotations

import logging
import struct
import time
from typing import Any

import pytest
from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport.TTransport import TMemoryBuffer

from kyuubi_py.errors import ProtocolError
from kyuubi_py.protocol.dispatch import (
    SERVICE_METHODS,
    Buffer,
    Dispatcher,
    RawMessage,
    RawResponse,
    encode_message_header,
    parse_message_header,
    replace_message_header,
    skip,
)
from kyuubi_py.protocol.tcli import TCLIService, ttypes

pytestmark = pytest.mark.timeout(30)

GUID = bytes(range(0xF0, 0x100))  # not valid UTF-8
SECRET = b"\xff\xfe\x00\x80" * 4
SESSION = ttypes.TSessionHandle(ttypes.THandleIdentifier(GUID, SECRET))
OPERATION = ttypes.TOperationHandle(ttypes.THandleIdentifier(GUID, SECRET), 0, True)
OK = ttypes.TStatus(ttypes.TStatusCode.SUCCESS_STATUS)


def encode(obj: Any) -> bytes:
    return bytes(fastbinary.encode_binary(obj, [type(obj), type(obj).thrift_spec]))


def call_frame(method: str, req: Any, seqid: int = 7) -> bytes:
    args = getattr(TCLIService, f"{method}_args")(req=req)
    return encode_message_header(method, TMessageType.CALL, seqid) + encode(args)


def getlog_args() -> bytes:
    """What pyhive/impyla send for GetLog: TGetLogReq{1: TOperationHandle} with binary GUIDs."""
    return b"\x0c\x00\x01" + encode(ttypes.TGetOperationStatusReq(OPERATION))[:-1] + b"\x00\x00"


class Handler:
    """An in-memory TCLIService handler; ``calls`` records (method, req)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.CloseSession = "not callable"

    def GetInfo(self, req: Any) -> Any:
        self.calls.append(("GetInfo", req))
        return ttypes.TGetInfoResp(OK, ttypes.TGetInfoValue(stringValue="Spark SQL"))

    def ExecuteStatement(self, req: Any) -> Any:
        self.calls.append(("ExecuteStatement", req))
        return ttypes.TExecuteStatementResp(OK, OPERATION)

    def GetOperationStatus(self, req: Any) -> Any:
        raise KeyError("no such operation")

    def CancelOperation(self, req: Any) -> Any:
        raise TApplicationException(TApplicationException.UNKNOWN, "refused on purpose")

    def GetCatalogs(self, req: Any) -> Any:
        return ttypes.TGetInfoResp(OK, infoValue=None)  # required infoValue missing

    def FetchResults(self, req: Any) -> Any:
        return RawResponse([encode(fetch_response())[:5], memoryview(encode(fetch_response()))[5:]])


def fetch_response() -> Any:
    column = ttypes.TColumn(i32Val=ttypes.TI32Column(values=[1, 2, 3], nulls=b"\x00"))
    rows = ttypes.TRowSet(startRowOffset=0, rows=[], columns=[column])
    return ttypes.TFetchResultsResp(OK, hasMoreRows=False, results=rows)


def read_reply(parts: list[Buffer]) -> tuple[str, int, int, Any]:
    """Decode a reply with the pure-Python protocol: (name, type, seqid, success or exception)."""
    iprot = TBinaryProtocol(TMemoryBuffer(b"".join(bytes(part) for part in parts)))
    name, message_type, seqid = iprot.readMessageBegin()
    if message_type == TMessageType.EXCEPTION:
        body: Any = TApplicationException()
    else:
        body = getattr(TCLIService, f"{name}_result")()
    body.read(iprot)
    assert iprot.trans.read(1) == b"", "trailing bytes after the reply"
    return name, message_type, seqid, body if message_type != TMessageType.REPLY else body.success


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def dispatcher(handler: Handler) -> Dispatcher:
    return Dispatcher(handler)


# --- served calls ---


@pytest.mark.parametrize("seqid", [0, 1, 2**31 - 1, -1])
def test_call_is_decoded_dispatched_and_echoes_name_and_seqid(
    dispatcher: Dispatcher, handler: Handler, seqid: int
) -> None:
    req = ttypes.TGetInfoReq(SESSION, ttypes.TGetInfoType.CLI_SERVER_NAME)
    reply = read_reply(dispatcher.process_frame(call_frame("GetInfo", req, seqid)))
    assert reply[:3] == ("GetInfo", TMessageType.REPLY, seqid)
    assert reply[3].infoValue.stringValue == "Spark SQL"
    assert handler.calls == [("GetInfo", req)]
    assert handler.calls[0][1].sessionHandle.sessionId.guid == GUID


def test_service_methods_come_from_the_idl() -> None:
    assert {"OpenSession", "FetchResults", "GetInfo", "SetClientInfo"} <= SERVICE_METHODS
    assert "GetLog" not in SERVICE_METHODS


def test_statement_strings_arrive_as_text(dispatcher: Dispatcher, handler: Handler) -> None:
    req = ttypes.TExecuteStatementReq(SESSION, "SELECT 'Grüße', '\ufffd'", {"k": "v"})
    reply = read_reply(dispatcher.process_frame(call_frame("ExecuteStatement", req)))
    assert reply[1] == TMessageType.REPLY
    assert handler.calls[0][1].statement == "SELECT 'Grüße', '\ufffd'"


# --- unknown methods ---


def exception_of(parts: list[Buffer]) -> tuple[str, int, int, TApplicationException]:
    name, message_type, seqid, body = read_reply(parts)
    assert message_type == TMessageType.EXCEPTION
    return name, message_type, seqid, body


def test_getlog_with_binary_guids_is_unknown_method(dispatcher: Dispatcher) -> None:
    frame = encode_message_header("GetLog", TMessageType.CALL, 3) + getlog_args()
    name, _, seqid, error = exception_of(dispatcher.process_frame(frame))
    assert (name, seqid) == ("GetLog", 3)
    assert error.type == TApplicationException.UNKNOWN_METHOD
    assert error.message == "Invalid method name: 'GetLog'"


@pytest.mark.parametrize("method", ["GetTypeInfo", "CloseSession"])
def test_service_method_the_handler_lacks_is_unknown(dispatcher: Dispatcher, method: str) -> None:
    req = ttypes.TGetTypeInfoReq(SESSION)
    frame = encode_message_header(method, TMessageType.CALL, 1) + encode(
        TCLIService.GetTypeInfo_args(req=req)
    )
    _, _, _, error = exception_of(dispatcher.process_frame(frame))
    assert error.type == TApplicationException.UNKNOWN_METHOD
    assert error.message == f"Invalid method name: '{method}'"


@pytest.mark.parametrize("message_type", [TMessageType.REPLY, TMessageType.EXCEPTION, 0, 9])
def test_messages_other_than_calls_are_refused(dispatcher: Dispatcher, message_type: int) -> None:
    req = ttypes.TGetInfoReq(SESSION, 1)
    frame = encode_message_header("GetInfo", message_type, 5) + encode(
        TCLIService.GetInfo_args(req=req)
    )
    _, _, seqid, error = exception_of(dispatcher.process_frame(frame))
    assert seqid == 5
    assert error.type == TApplicationException.INVALID_MESSAGE_TYPE


# --- handler failures ---


def test_handler_exception_is_internal_error_and_logged(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    frame = call_frame("GetOperationStatus", ttypes.TGetOperationStatusReq(OPERATION))
    with caplog.at_level(logging.ERROR):
        name, _, seqid, error = exception_of(dispatcher.process_frame(frame))
    assert (name, seqid) == ("GetOperationStatus", 7)
    assert error.type == TApplicationException.INTERNAL_ERROR
    assert "no such operation" in error.message
    assert any(record.exc_info for record in caplog.records)


def test_handler_application_exception_keeps_its_type(dispatcher: Dispatcher) -> None:
    frame = call_frame("CancelOperation", ttypes.TCancelOperationReq(OPERATION))
    _, _, _, error = exception_of(dispatcher.process_frame(frame))
    assert (error.type, error.message) == (TApplicationException.UNKNOWN, "refused on purpose")


def test_response_missing_a_required_field_is_internal_error(dispatcher: Dispatcher) -> None:
    frame = call_frame("GetCatalogs", ttypes.TGetCatalogsReq(SESSION))
    _, _, _, error = exception_of(dispatcher.process_frame(frame))
    assert error.type == TApplicationException.INTERNAL_ERROR
    assert "infoValue" in error.message


# --- malformed requests in frames ---


def test_invalid_utf8_in_a_frame_is_protocol_error_then_served_again(
    dispatcher: Dispatcher, handler: Handler
) -> None:
    req = ttypes.TExecuteStatementReq(SESSION, "SELECT 'xx'")
    frame = call_frame("ExecuteStatement", req).replace(b"'xx'", b"'\xff\xfe'")
    name, _, _, error = exception_of(dispatcher.process_frame(frame))
    assert name == "ExecuteStatement"
    assert error.type == TApplicationException.PROTOCOL_ERROR
    assert "invalid UTF-8" in error.message
    assert handler.calls == []
    follow_up = dispatcher.process_frame(call_frame("GetInfo", ttypes.TGetInfoReq(SESSION, 1)))
    reply = read_reply(follow_up)
    assert reply[1] == TMessageType.REPLY


def test_invalid_utf8_in_a_map_key_is_detected(dispatcher: Dispatcher) -> None:
    req = ttypes.TExecuteStatementReq(SESSION, "SELECT 1", {"kk": "v"})
    frame = call_frame("ExecuteStatement", req).replace(b"kk", b"k\x80")
    _, _, _, error = exception_of(dispatcher.process_frame(frame))
    assert error.type == TApplicationException.PROTOCOL_ERROR


def test_invalid_utf8_alongside_a_real_replacement_character_is_detected(
    dispatcher: Dispatcher,
) -> None:
    req = ttypes.TExecuteStatementReq(SESSION, "\ufffd xx \ufffd")
    frame = call_frame("ExecuteStatement", req).replace(b"xx", b"\xc3(")
    _, _, _, error = exception_of(dispatcher.process_frame(frame))
    assert error.type == TApplicationException.PROTOCOL_ERROR


def malformed_bodies() -> dict[str, bytes]:
    body = encode(TCLIService.ExecuteStatement_args(req=ttypes.TExecuteStatementReq(SESSION, "x")))
    conf = encode(
        TCLIService.ExecuteStatement_args(req=ttypes.TExecuteStatementReq(SESSION, "x", {"a": "b"}))
    )
    at = conf.index(b"\x0d\x00\x03\x0b\x0b") + 5
    return {
        "empty": b"",
        "truncated": body[: len(body) // 2],
        "wrong field type": body.replace(
            b"\x0b\x00\x02\x00\x00\x00\x01x", b"\x08\x00\x02\x00\x00\x00\x01"
        ),
        "huge map": conf[:at] + b"\x7f\xff\xff\xff" + conf[at + 4 :],
        "negative string": body.replace(b"\x00\x00\x00\x01x", b"\xff\xff\xff\xffx"),
        "invalid type": b"\x0c\x00\x01\x63\x00\x01\x00\x00",
        "deep nesting": b"\x0c\x00\x01" + b"\x0c\x00\x63" * 5000 + b"\x00" * 5002,
    }


@pytest.mark.parametrize("case", list(malformed_bodies()))
def test_malformed_args_in_a_frame_are_answered_and_the_connection_survives(
    dispatcher: Dispatcher, case: str
) -> None:
    frame = (
        encode_message_header("ExecuteStatement", TMessageType.CALL, 9) + malformed_bodies()[case]
    )
    name, _, seqid, error = exception_of(dispatcher.process_frame(frame))
    assert (name, seqid) == ("ExecuteStatement", 9)
    assert error.type == TApplicationException.PROTOCOL_ERROR
    follow_up = dispatcher.process_frame(call_frame("GetInfo", ttypes.TGetInfoReq(SESSION, 1)))
    assert read_reply(follow_up)[1] == TMessageType.REPLY


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x80\x01",
        b"\x80\x02\x00\x01\x00\x00\x00\x07GetInfo\x00\x00\x00\x01",  # bad version
        b"\x00\x00\x00\x07GetInfo\x01\x00\x00\x00\x01",  # non-strict header
        b"\x80\x01\x00\x01\x7f\xff\xff\xffGetInfo",  # name length
        b"\x80\x01\x00\x01\x00\x00\x00\x07GetInfo\x00\x00",  # truncated seqid
        b"\x80\x01\x00\x01\x00\x00\x00\x02\xff\xfe\x00\x00\x00\x01",  # name not UTF-8
    ],
)
def test_unusable_headers_raise_protocol_error(dispatcher: Dispatcher, frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        dispatcher.process_frame(frame)


# --- raw responses and messages ---


def test_raw_response_is_byte_identical_to_encoding_the_struct(dispatcher: Dispatcher) -> None:
    frame = call_frame("FetchResults", ttypes.TFetchResultsReq(OPERATION, 0, 100))
    raw = b"".join(bytes(part) for part in dispatcher.process_frame(frame))
    expected = encode_message_header("FetchResults", TMessageType.REPLY, 7) + encode(
        TCLIService.FetchResults_result(success=fetch_response())
    )
    assert raw == expected


def engine_reply(message_type: int, name: str = "FetchResults", seqid: int = 0) -> bytes:
    header = encode_message_header(name, message_type, seqid)
    if message_type == TMessageType.EXCEPTION:
        return header + b"\x0b\x00\x01\x00\x00\x00\x04boom\x08\x00\x02\x00\x00\x00\x06\x00"
    return header + encode(TCLIService.FetchResults_result(success=fetch_response()))


@pytest.mark.parametrize("message_type", [TMessageType.REPLY, TMessageType.EXCEPTION])
@pytest.mark.parametrize("split", ["whole", "bytewise-header", "views"])
def test_raw_message_gets_this_requests_name_and_seqid(message_type: int, split: str) -> None:
    message = engine_reply(message_type, name="Engine", seqid=12345)
    parts: list[Buffer]
    if split == "whole":
        parts = [message]
    elif split == "bytewise-header":
        parts = [message[i : i + 1] for i in range(30)] + [message[30:]]
    else:
        parts = [memoryview(message)[:5], bytearray(message[5:20]), memoryview(message)[20:]]

    class Relay:
        def FetchResults(self, req: Any) -> RawMessage:
            return RawMessage(parts)

    frame = call_frame("FetchResults", ttypes.TFetchResultsReq(OPERATION, 0, 1), seqid=42)
    out = b"".join(bytes(part) for part in Dispatcher(Relay()).process_frame(frame))
    header_length = parse_message_header(message)[3]
    assert parse_message_header(out)[:3] == ("FetchResults", message_type, 42)
    assert out[parse_message_header(out)[3] :] == message[header_length:]


def test_replace_message_header_keeps_the_body_as_views() -> None:
    message = engine_reply(TMessageType.REPLY, "X", 1)
    parts = replace_message_header([message], "FetchResults", 2)
    assert isinstance(parts[1], memoryview)
    assert parse_message_header(b"".join(bytes(part) for part in parts))[:3] == (
        "FetchResults",
        TMessageType.REPLY,
        2,
    )


def test_relayed_message_shorter_than_its_header_is_internal_error() -> None:
    class Relay:
        def FetchResults(self, req: Any) -> RawMessage:
            return RawMessage([b"\x80\x01\x00\x02\x00\x00\x00\x10Fetch"])

    frame = call_frame("FetchResults", ttypes.TFetchResultsReq(OPERATION, 0, 1))
    _, _, _, error = exception_of(Dispatcher(Relay()).process_frame(frame))
    assert error.type == TApplicationException.INTERNAL_ERROR


# --- unframed streams ---


def stream_protocol(data: bytes) -> TBinaryProtocolAccelerated:
    return TBinaryProtocolAccelerated(
        TMemoryBuffer(data),
        strictRead=True,
        fallback=False,
        string_length_limit=1 << 20,
        container_length_limit=1 << 20,
    )


def test_stream_skips_getlog_binary_safely_and_serves_the_next_message(
    dispatcher: Dispatcher,
) -> None:
    stream = (
        encode_message_header("GetLog", TMessageType.CALL, 1)
        + getlog_args()
        + call_frame("GetInfo", ttypes.TGetInfoReq(SESSION, 1), seqid=2)
    )
    iprot = stream_protocol(stream)
    _, _, seqid, error = exception_of(dispatcher.process_stream(iprot))
    assert (seqid, error.type) == (1, TApplicationException.UNKNOWN_METHOD)
    name, message_type, seqid, _ = read_reply(dispatcher.process_stream(iprot))
    assert (name, message_type, seqid) == ("GetInfo", TMessageType.REPLY, 2)
    assert iprot.trans.read(1) == b""


@pytest.mark.parametrize(
    "case", [case for case in malformed_bodies() if case != "wrong field type"]
)
def test_malformed_stream_raises_protocol_error(dispatcher: Dispatcher, case: str) -> None:
    data = (
        encode_message_header("ExecuteStatement", TMessageType.CALL, 1) + malformed_bodies()[case]
    )
    with pytest.raises(ProtocolError):
        dispatcher.process_stream(stream_protocol(data))


def test_missing_required_field_is_answered_on_a_stream_too(dispatcher: Dispatcher) -> None:
    body = malformed_bodies()["wrong field type"]
    stream = encode_message_header("ExecuteStatement", TMessageType.CALL, 1) + body
    iprot = stream_protocol(stream + call_frame("GetInfo", ttypes.TGetInfoReq(SESSION, 1)))
    _, _, _, error = exception_of(dispatcher.process_stream(iprot))
    assert error.type == TApplicationException.PROTOCOL_ERROR
    assert "statement" in error.message
    assert read_reply(dispatcher.process_stream(iprot))[1] == TMessageType.REPLY


def test_call_without_a_request_struct_is_protocol_error(dispatcher: Dispatcher) -> None:
    frame = encode_message_header("GetInfo", TMessageType.CALL, 1) + b"\x00"
    _, _, _, error = exception_of(dispatcher.process_frame(frame))
    assert error.type == TApplicationException.PROTOCOL_ERROR


def test_stream_with_non_utf8_method_name_raises_protocol_error(dispatcher: Dispatcher) -> None:
    data = b"\x80\x01\x00\x01\x00\x00\x00\x02\xff\xfe\x00\x00\x00\x01\x00"
    with pytest.raises(ProtocolError):
        dispatcher.process_stream(stream_protocol(data))


# --- binary-safe skip ---


def every_type_struct() -> bytes:
    """A struct with a field of every type, binary strings and nested containers."""
    s = struct.pack
    string = s(">i", 4) + b"\xff\x00\xfe\x80"
    return b"".join(
        [
            b"\x02\x00\x01\x01",  # bool
            b"\x03\x00\x02\x7f",  # byte
            b"\x04\x00\x03" + s(">d", 1.5),
            b"\x06\x00\x04" + s(">h", 7),
            b"\x08\x00\x05" + s(">i", 8),
            b"\x0a\x00\x06" + s(">q", 9),
            b"\x0b\x00\x07" + string,
            b"\x0c\x00\x08" + b"\x0b\x00\x01" + string + b"\x00",
            b"\x0d\x00\x09\x0b\x0f" + s(">i", 1) + string + b"\x08" + s(">i", 2) + s(">ii", 1, 2),
            b"\x0e\x00\x0a\x0b" + s(">i", 2) + string + string,
            b"\x0f\x00\x0b\x0a" + s(">i", 3) + s(">qqq", 1, 2, 3),
            b"\x0f\x00\x0c\x0c" + s(">i", 1) + b"\x0b\x00\x01" + string + b"\x00",
            b"\x10\x00\x0d" + bytes(16),  # uuid
            b"\x00",
        ]
    )


def test_skip_reads_exactly_one_struct_and_never_decodes_strings() -> None:
    data = every_type_struct() + b"NEXT"
    iprot = TBinaryProtocol(
        TMemoryBuffer(data), string_length_limit=100, container_length_limit=100
    )
    skip(iprot, TType.STRUCT)
    assert iprot.trans.read(10) == b"NEXT"


def test_thrift_skip_would_fail_on_the_same_bytes() -> None:
    iprot = TBinaryProtocol(TMemoryBuffer(every_type_struct()))
    with pytest.raises(UnicodeDecodeError):
        iprot.skip(TType.STRUCT)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x0b\x00\x01\xff\xff\xff\xff", "Negative"),
        (b"\x0b\x00\x01\x00\x00\x10\x00", "Length"),
        (b"\x63\x00\x01", "invalid TType"),
        (b"\x0c\x00\x01" * 100, "depth"),
    ],
)
def test_skip_rejects_bad_input(data: bytes, error: str) -> None:
    iprot = TBinaryProtocol(
        TMemoryBuffer(data), string_length_limit=100, container_length_limit=100
    )
    with pytest.raises(TProtocolException, match=error):
        skip(iprot, TType.STRUCT)


def test_skip_of_a_huge_fixed_width_list_stops_at_the_end_of_data() -> None:
    data = b"\x0f\x00\x01\x0a\x00\x10\x00\x00" + bytes(64)
    iprot = TBinaryProtocol(TMemoryBuffer(data), container_length_limit=1 << 20)
    with pytest.raises(EOFError):
        skip(iprot, TType.STRUCT)


# --- overhead ---


def test_per_message_overhead_is_small(dispatcher: Dispatcher) -> None:
    frame = call_frame("GetInfo", ttypes.TGetInfoReq(SESSION, 1))
    for _ in range(200):
        dispatcher.process_frame(frame)
    start = time.perf_counter()
    for _ in range(2000):
        dispatcher.process_frame(frame)
    per_message_us = (time.perf_counter() - start) / 2000 * 1e6
    assert per_message_us < 100, f"{per_message_us:.1f} us per message"
