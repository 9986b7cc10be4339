"""Structural performance guard: the Thrift C extension (fastbinary) is the codec the server and
our client really use. Without it every request and reply goes through pure-Python Thrift, about
10x slower; thrift's setup.py silently installs without it when the build fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.Thrift import TMessageType
from thrift.transport.TTransport import TMemoryBuffer

from kyuubi_py.protocol import dispatch
from kyuubi_py.protocol.dispatch import Dispatcher, encode_message_header
from kyuubi_py.protocol.tcli import TCLIService, ttypes

SESSION = ttypes.TSessionHandle(ttypes.THandleIdentifier(b"g" * 16, b"s" * 16))


class InfoHandler:
    def GetInfo(self, req: ttypes.TGetInfoReq) -> ttypes.TGetInfoResp:  # noqa: N802
        return ttypes.TGetInfoResp(
            status=ttypes.TStatus(statusCode=0),
            infoValue=ttypes.TGetInfoValue(stringValue="Spark SQL"),
        )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    counted = {"decode": 0, "encode": 0}

    def counting(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(fastbinary, "decode_binary", counting("decode", fastbinary.decode_binary))
    monkeypatch.setattr(fastbinary, "encode_binary", counting("encode", fastbinary.encode_binary))
    yield counted


def get_info_frame() -> bytes:
    out = TMemoryBuffer()
    protocol = TBinaryProtocolAccelerated(out, fallback=False)
    TCLIService.GetInfo_args(req=ttypes.TGetInfoReq(SESSION, 13)).write(protocol)
    return encode_message_header("GetInfo", TMessageType.CALL, 7) + out.getvalue()


def test_server_decodes_and_encodes_with_the_c_extension(calls: dict[str, int]) -> None:
    calls.update(decode=0, encode=0)
    reply = b"".join(
        bytes(part) for part in Dispatcher(InfoHandler()).process_frame(get_info_frame())
    )
    assert b"Spark SQL" in reply
    assert calls["decode"] >= 1, "requests were decoded without fastbinary"
    assert calls["encode"] >= 1, "replies were encoded without fastbinary"


def test_the_accelerated_protocol_refuses_to_fall_back() -> None:
    # fallback=False raises instead of silently running pure Python when fastbinary is missing.
    protocol = TBinaryProtocolAccelerated(TMemoryBuffer(), fallback=False)
    assert protocol._fast_decode is not None and protocol._fast_encode is not None
    assert dispatch.fastbinary is fastbinary
