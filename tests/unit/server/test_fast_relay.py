"""The handle peeks of the gateway's frame relay (operation RPCs, ExecuteStatement), and the
dispatcher hook."""

from __future__ import annotations

from typing import Any

import pytest
from thrift.protocol import fastbinary
from thrift.Thrift import TMessageType, TType

from kyuubi_py.protocol.dispatch import Buffer, Dispatcher, encode_message_header
from kyuubi_py.protocol.handles import OperationHandle
from kyuubi_py.protocol.tcli import TCLIService, ttypes
from kyuubi_py.server.fast_relay import (
    FRAME_RELAYED_METHODS,
    new_operation_handle,
    peek_operation_ids,
    peek_statement_session_ids,
)

GUID = bytes(range(16))
SECRET = bytes(range(100, 116))


def _handle(**extra: Any) -> ttypes.TOperationHandle:
    return ttypes.TOperationHandle(
        operationId=ttypes.THandleIdentifier(guid=GUID, secret=SECRET),
        operationType=ttypes.TOperationType.EXECUTE_STATEMENT,
        hasResultSet=True,
        **extra,
    )


def _requests(handle: ttypes.TOperationHandle) -> dict[str, Any]:
    return {
        "GetOperationStatus": ttypes.TGetOperationStatusReq(handle, getProgressUpdate=True),
        "FetchResults": ttypes.TFetchResultsReq(handle, orientation=0, maxRows=1000, fetchType=0),
        "GetResultSetMetadata": ttypes.TGetResultSetMetadataReq(handle),
        "CancelOperation": ttypes.TCancelOperationReq(handle),
        "CloseOperation": ttypes.TCloseOperationReq(handle),
    }


def _message(name: str, req: Any, seqid: int = 42) -> tuple[bytes, int]:
    args_class = getattr(TCLIService, f"{name}_args")
    header = encode_message_header(name, TMessageType.CALL, seqid)
    body = fastbinary.encode_binary(args_class(req=req), [args_class, args_class.thrift_spec])
    return header + body, len(header)


@pytest.mark.parametrize("name", sorted(FRAME_RELAYED_METHODS))
@pytest.mark.parametrize("extra", [{}, {"modifiedRowCount": 3.0}])
def test_peeks_the_ids_of_what_the_generated_encoder_writes(name: str, extra: Any) -> None:
    frame, offset = _message(name, _requests(_handle(**extra))[name])
    assert peek_operation_ids(name, frame, offset) == (GUID, SECRET)


def test_optional_request_fields_may_be_absent() -> None:
    frame, offset = _message("GetOperationStatus", ttypes.TGetOperationStatusReq(_handle()))
    assert peek_operation_ids("GetOperationStatus", frame, offset) == (GUID, SECRET)


def test_other_methods_are_not_peeked() -> None:
    frame, offset = _message("GetOperationStatus", _requests(_handle())["GetOperationStatus"])
    assert peek_operation_ids("GetQueryId", frame, offset) is None
    assert peek_operation_ids("FetchResults", frame, offset) is None  # unknown field 2 type


def _field(ttype: int, field_id: int) -> bytes:
    return bytes([ttype, 0, field_id])


def _ident(guid: bytes, secret: bytes, *, secret_first: bool = False) -> bytes:
    g = _field(TType.STRING, 1) + len(guid).to_bytes(4, "big") + guid
    s = _field(TType.STRING, 2) + len(secret).to_bytes(4, "big") + secret
    return (s + g if secret_first else g + s) + b"\0"


_HANDLE_TAIL = _field(TType.I32, 2) + b"\0\0\0\0" + _field(TType.BOOL, 3) + b"\1" + b"\0"


def _close_message(handle_struct: bytes, req_tail: bytes = b"\0", args_tail: bytes = b"\0"):
    header = encode_message_header("CloseOperation", TMessageType.CALL, 1)
    body = (
        _field(TType.STRUCT, 1)
        + _field(TType.STRUCT, 1)
        + _field(TType.STRUCT, 1)
        + handle_struct
        + req_tail
        + args_tail
    )
    return header + body, len(header)


def test_hand_built_standard_layout_is_accepted() -> None:
    frame, offset = _close_message(_ident(GUID, SECRET) + _HANDLE_TAIL)
    assert peek_operation_ids("CloseOperation", frame, offset) == (GUID, SECRET)


@pytest.mark.parametrize(
    "frame_and_offset",
    [
        _close_message(_ident(GUID, SECRET, secret_first=True) + _HANDLE_TAIL),
        _close_message(_ident(GUID[:15], SECRET) + _HANDLE_TAIL),
        _close_message(_ident(GUID + b"x", SECRET) + _HANDLE_TAIL),
        _close_message(_ident(GUID, SECRET)[:-1] + _field(TType.I32, 3) + b"\0\0\0\0\0"),
        # a second operation handle after the first
        _close_message(_ident(GUID, SECRET) + _HANDLE_TAIL, _field(TType.STRUCT, 1)),
        # fields out of order / repeated / unknown / wrong type
        _close_message(
            _ident(GUID, SECRET)
            + _field(TType.BOOL, 3)
            + b"\1"
            + _field(TType.I32, 2)
            + b"\0\0\0\0"
            + b"\0"
        ),
        _close_message(_ident(GUID, SECRET) + _field(TType.I32, 2) + b"\0\0\0\0" * 2 + b"\0"),
        _close_message(_ident(GUID, SECRET) + _field(TType.I64, 2) + b"\0" * 8 + b"\0"),
        _close_message(_ident(GUID, SECRET) + _field(TType.I32, 9) + b"\0" * 4 + b"\0"),
        # trailing bytes, truncation, a second args field
        _close_message(_ident(GUID, SECRET) + _HANDLE_TAIL, args_tail=b"\0\0"),
        _close_message(_ident(GUID, SECRET) + _HANDLE_TAIL, args_tail=b""),
        _close_message(_ident(GUID, SECRET) + _HANDLE_TAIL, args_tail=_field(TType.STRUCT, 2)),
        _close_message(_ident(GUID, SECRET)[:20]),
    ],
)
def test_any_other_layout_is_rejected(frame_and_offset: tuple[bytes, int]) -> None:
    frame, offset = frame_and_offset
    assert peek_operation_ids("CloseOperation", frame, offset) is None


class _Handler:
    def __init__(self, relayed: list[Buffer] | None) -> None:
        self.relayed = relayed
        self.seen: list[tuple[str, int]] = []
        self.decoded: list[Any] = []

    def relay_frame(self, name: str, frame: bytes, header_length: int) -> list[Buffer] | None:
        self.seen.append((name, header_length))
        return self.relayed

    def CloseOperation(self, req: Any) -> Any:  # noqa: N802
        self.decoded.append(req)
        return ttypes.TCloseOperationResp(status=ttypes.TStatus(statusCode=0))


def test_dispatcher_uses_the_relay_reply_when_there_is_one() -> None:
    handler = _Handler([b"engine reply"])
    frame, offset = _close_message(_ident(GUID, SECRET) + _HANDLE_TAIL)
    assert Dispatcher(handler).process_frame(frame) == [b"engine reply"]
    assert handler.seen == [("CloseOperation", offset)]
    assert handler.decoded == []


def test_dispatcher_decodes_when_the_relay_declines() -> None:
    handler = _Handler(None)
    frame, _ = _close_message(_ident(GUID, SECRET) + _HANDLE_TAIL)
    Dispatcher(handler).process_frame(frame)
    assert len(handler.decoded) == 1
    assert handler.decoded[0].operationHandle.operationId.guid == GUID


def test_gateway_frontend_factory_relays_only_framed_sasl_connections() -> None:
    from kyuubi_py.server.fast_relay import gateway_frontend_factory
    from kyuubi_py.server.session import GatewaySessionManager
    from kyuubi_py.service.backend import Caller

    build = gateway_frontend_factory(GatewaySessionManager())
    sasl = build(object(), Caller(1, "alice", "127.0.0.1", "SASL"))  # type: ignore[arg-type]
    nosasl = build(object(), Caller(2, None, "127.0.0.1", "NOSASL"))  # type: ignore[arg-type]
    assert callable(getattr(sasl, "relay_frame", None))
    assert not hasattr(nosasl, "relay_frame")


# -- ExecuteStatement ---------------------------------------------------------------------------
def _session() -> ttypes.TSessionHandle:
    return ttypes.TSessionHandle(ttypes.THandleIdentifier(guid=GUID, secret=SECRET))


@pytest.mark.parametrize(
    "req",
    [
        ttypes.TExecuteStatementReq(_session(), "SELECT 1"),
        ttypes.TExecuteStatementReq(_session(), "SELECT 'ü'", {}, True, 30),
        ttypes.TExecuteStatementReq(_session(), "", runAsync=False),
        ttypes.TExecuteStatementReq(_session(), "SELECT 1", queryTimeout=0),
    ],
)
def test_statement_peek_reads_what_the_generated_encoder_writes(req: Any) -> None:
    frame, offset = _message("ExecuteStatement", req)
    assert peek_statement_session_ids(frame, offset) == (GUID, SECRET)


def test_statement_with_a_conf_overlay_takes_the_decode_path() -> None:
    # The overlay must pass the session conf checks, which only the decode path applies.
    req = ttypes.TExecuteStatementReq(_session(), "SELECT 1", {"spark.sql.x": "1"}, True)
    frame, offset = _message("ExecuteStatement", req)
    assert peek_statement_session_ids(frame, offset) is None


def test_statement_with_invalid_utf8_takes_the_decode_path() -> None:
    frame, offset = _message(
        "ExecuteStatement", ttypes.TExecuteStatementReq(_session(), "SELECT 1")
    )
    bad = frame.replace(b"SELECT 1", b"SELECT \xff")
    assert peek_statement_session_ids(bad, offset) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda f: f[:-1],  # truncated
        lambda f: f + b"\0",  # trailing byte
        lambda f: f.replace(b"\0\0\0\x08SELECT 1", b"\0\0\0\x7fSELECT 1"),  # length past the end
        lambda f: f.replace(b"\0\0\0\x08SELECT 1", b"\xff\xff\xff\xffSELECT 1"),  # negative
    ],
)
def test_statement_peek_rejects_broken_layouts(mangle: Any) -> None:
    req = ttypes.TExecuteStatementReq(_session(), "SELECT 1", runAsync=True)
    frame, offset = _message("ExecuteStatement", req)
    assert peek_statement_session_ids(mangle(frame), offset) is None


def test_new_operation_handle_of_replies() -> None:
    handle = _handle()
    ok = ttypes.TExecuteStatementResp(ttypes.TStatus(statusCode=0), handle)
    failed = ttypes.TExecuteStatementResp(
        ttypes.TStatus(statusCode=3, errorMessage="Error running query: boom")
    )
    assert new_operation_handle(_reply(ok)) == OperationHandle(GUID, SECRET)
    assert new_operation_handle(_reply(failed)) is None


def _reply(resp: Any) -> bytes:
    result_class = TCLIService.ExecuteStatement_result
    header = encode_message_header("ExecuteStatement", TMessageType.REPLY, 7)
    body = fastbinary.encode_binary(
        result_class(success=resp), [result_class, result_class.thrift_spec]
    )
    return header + body
