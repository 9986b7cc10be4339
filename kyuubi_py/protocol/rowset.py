"""TRowSet wire encoding: Arrow arrays in, TBinaryProtocol bytes out.

Result batches are written straight from Arrow buffers with numpy/pyarrow (no Python object
per value), so a batch costs time linear in its size. The bytes are exactly what
``TBinaryProtocolAccelerated`` writes for the equivalent ``ttypes`` objects, which lets the
frontend splice them into a ``FetchResults`` reply (see ``encode_fetch_results_resp``).

Binary protocol layout used here (apache/thrift ``TBinaryProtocol``):
struct field = type byte + i16 field id, then the value; struct end = 0x00;
list = element type byte + i32 count + elements; string/binary = i32 length + bytes;
all integers big-endian; bool = one byte 0/1.

Null semantics follow Spark Thrift Server (STS) 4.3:
- ``nulls`` bit r (LSB first, byte r // 8) is set iff row r is NULL, trimmed after the last
  byte holding a set bit, empty when there are no nulls (``java.util.BitSet.toByteArray``).
- NULL slots carry a placeholder: ``true`` for booleans (STS's ``getOrSetAsNull`` default),
  0 for numbers, "" / b"" for strings and binaries.
Metadata results and the operation log use Hive's ``ColumnBuffer`` bitmap instead
(``1 + bitset.length() / 8`` bytes, so ``00`` when there are no nulls); see ``hive_nulls``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from kyuubi_py.protocol.tcli import ttypes
from kyuubi_py.protocol.value_rowset import (
    ColumnKind as ColumnKind,
    columnar_rowset_from_pylists as columnar_rowset_from_pylists,
    hive_nulls_bitmap as hive_nulls_bitmap,
    log_rowset as log_rowset,
    rowbased_rowset_from_pylists,
)

Part = bytes | memoryview

# Thrift TType codes (thrift.Thrift.TType), spelled out because they are wire constants.
_T_STOP = 0
_T_BOOL = 2
_T_BYTE = 3
_T_DOUBLE = 4
_T_I16 = 6
_T_I32 = 8
_T_I64 = 10
_T_STRING = 11
_T_STRUCT = 12
_T_LIST = 15

# Below this size a buffer is copied into the surrounding header bytes: one copy of a few
# hundred bytes is cheaper than one more element in the scatter/gather list.
_INLINE_LIMIT = 512
_MAX_INT32 = 2**31 - 1


_ELEMENT_TTYPE: dict[ColumnKind, int] = {
    ColumnKind.BOOL: _T_BOOL,
    ColumnKind.BYTE: _T_BYTE,
    ColumnKind.I16: _T_I16,
    ColumnKind.I32: _T_I32,
    ColumnKind.I64: _T_I64,
    ColumnKind.DOUBLE: _T_DOUBLE,
    ColumnKind.STRING: _T_STRING,
    ColumnKind.BINARY: _T_STRING,
}

# (arrow type to cast to, big-endian numpy dtype on the wire, placeholder for NULL slots)
_FIXED_WIDTH: dict[ColumnKind, tuple[pa.DataType, str, int | float | bool]] = {
    ColumnKind.BOOL: (pa.bool_(), "u1", True),
    ColumnKind.BYTE: (pa.int8(), "i1", 0),
    ColumnKind.I16: (pa.int16(), ">i2", 0),
    ColumnKind.I32: (pa.int32(), ">i4", 0),
    ColumnKind.I64: (pa.int64(), ">i8", 0),
    ColumnKind.DOUBLE: (pa.float64(), ">f8", 0.0),
}

_BYTES_TYPES = (pa.binary(), pa.large_binary())


class _Parts:
    """Collects wire output, merging small pieces so the part list stays short."""

    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._pending = bytearray()

    def small(self, data: bytes | bytearray) -> None:
        self._pending += data

    def buffer(self, data: memoryview) -> None:
        if len(data) <= _INLINE_LIMIT:
            self._pending += data
            return
        self._flush()
        self._parts.append(data)

    def extend(self, parts: Sequence[Part]) -> None:
        for part in parts:
            self.buffer(memoryview(part))

    def _flush(self) -> None:
        if self._pending:
            self._parts.append(bytes(self._pending))
            self._pending = bytearray()

    def result(self) -> list[Part]:
        self._flush()
        return self._parts


def _field_header(ttype: int, field_id: int) -> bytes:
    return struct.pack(">bh", ttype, field_id)


def _list_header(element_ttype: int, count: int) -> bytes:
    return struct.pack(">bi", element_ttype, count)


def _byte_view(data: npt.NDArray[np.generic] | pa.Buffer) -> memoryview:
    """A flat unsigned-byte view, so ``len()`` is the byte count whatever the source."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).view(np.uint8).data
    return memoryview(data).cast("B")


# ---------------------------------------------------------------------------------------------
# nulls bitmaps


def _null_mask(arr: pa.Array) -> npt.NDArray[np.bool_]:
    return np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)


def nulls_bitset(arr: pa.Array) -> bytes:
    """The STS nulls bitmap of ``arr``: LSB first, trimmed like ``BitSet.toByteArray``."""
    n = len(arr)
    if arr.null_count == 0 or n == 0:
        return b""
    validity = arr.buffers()[0]
    if isinstance(arr, pa.NullArray) or validity is None:
        packed = np.packbits(_null_mask(arr), bitorder="little")
    elif arr.offset % 8 == 0:
        # Arrow's validity bitmap is the same bit order with the meaning inverted: flip it.
        start = arr.offset // 8
        nbytes = (n + 7) // 8
        packed = ~np.frombuffer(validity, dtype=np.uint8, count=nbytes, offset=start)
        if n % 8:
            packed[-1] &= (1 << (n % 8)) - 1  # padding bits past the last row stay clear
    else:
        packed = np.packbits(_null_mask(arr), bitorder="little")
    nonzero = np.flatnonzero(packed)
    return packed[: int(nonzero[-1]) + 1].tobytes() if nonzero.size else b""


# ---------------------------------------------------------------------------------------------
# values


def _fixed_width_values(kind: ColumnKind, arr: pa.Array) -> memoryview:
    arrow_type, wire_dtype, placeholder = _FIXED_WIDTH[kind]
    if isinstance(arr, pa.NullArray):
        filled = np.full(len(arr), placeholder, dtype=wire_dtype)
        return _byte_view(filled)
    if arr.type != arrow_type:
        arr = pc.cast(arr, arrow_type)
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(placeholder, arrow_type))
    values = arr.to_numpy(zero_copy_only=False)
    return _byte_view(values.astype(wire_dtype, copy=False))


def _as_bytes_array(arr: pa.Array) -> pa.Array:
    """``arr`` as binary/large_binary without NULLs (NULL → empty placeholder)."""
    if isinstance(arr, pa.NullArray):
        return _empty_bytes(len(arr))
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        target = pa.large_binary()
    elif pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        target = pa.binary()
    else:
        raise TypeError(f"a string/binary column needs a string or binary array, got {arr.type}")
    arr = arr.cast(target)  # zero-copy: same layout
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(b"", target))
    return arr


def _empty_bytes(n: int) -> pa.Array:
    offsets = np.zeros(n + 1, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(b"")])


def _offsets(arr: pa.Array) -> npt.NDArray[np.int64]:
    width = np.int64 if arr.type == pa.large_binary() else np.int32
    raw = np.frombuffer(arr.buffers()[1], dtype=width, count=len(arr) + 1 + arr.offset)
    return raw[arr.offset :].astype(np.int64, copy=False)


def _string_values(arr: pa.Array) -> memoryview:
    """Per value a 4-byte big-endian length then the bytes: the body of a list<string>."""
    arr = _as_bytes_array(arr)
    n = len(arr)
    if n == 0:
        return memoryview(b"")
    offsets = _offsets(arr)
    data_len = int(offsets[-1] - offsets[0])
    lengths = np.diff(offsets)
    if np.any(lengths > _MAX_INT32):
        raise ValueError("a value longer than 2 GiB cannot be sent in a TColumn")
    large = 4 * n + data_len > _MAX_INT32
    prefix_type, offset_dtype = (pa.large_binary(), np.int64) if large else (pa.binary(), np.int32)
    # The length prefixes as an n-row binary array of 4-byte values; joining it element-wise
    # with the values lays out exactly the wire bytes in the result's data buffer (one C pass).
    prefix_offsets = np.arange(0, 4 * (n + 1), 4, dtype=offset_dtype)
    prefix = pa.Array.from_buffers(
        prefix_type,
        n,
        [None, pa.py_buffer(prefix_offsets), pa.py_buffer(lengths.astype(">u4").tobytes())],
    )
    joined = pc.binary_join_element_wise(prefix, arr.cast(prefix_type), pa.scalar(b"", prefix_type))
    joined_offsets = _offsets(joined)
    data = joined.buffers()[2]
    start, end = int(joined_offsets[0]), int(joined_offsets[-1])
    return _byte_view(data)[start:end]


def _column_parts(out: _Parts, kind: ColumnKind, arr: pa.Array) -> None:
    n = len(arr)
    out.small(_field_header(_T_STRUCT, int(kind)))  # TColumn union member
    out.small(_field_header(_T_LIST, 1))  # values
    out.small(_list_header(_ELEMENT_TTYPE[kind], n))
    if kind in (ColumnKind.STRING, ColumnKind.BINARY):
        out.buffer(_string_values(arr))
    else:
        out.buffer(_fixed_width_values(kind, arr))
    nulls = nulls_bitset(arr)
    out.small(_field_header(_T_STRING, 2))  # nulls
    out.small(struct.pack(">i", len(nulls)))
    out.small(nulls)
    out.small(bytes((_T_STOP, _T_STOP)))  # end of TXxxColumn, end of TColumn


def encode_columnar_rowset(
    columns: Sequence[tuple[ColumnKind, pa.Array]], start_row_offset: int
) -> list[Part]:
    """The bytes of a columnar ``TRowSet`` (``rows`` empty, one TColumn per array).

    Each array must already be in wire form for its kind (see ``schema.to_wire_array``):
    bool / int8 / int16 / int32 / int64 / float64 / string / binary (large variants and
    all-null ``pa.null()`` arrays accepted). Every array must have the same length.
    """
    lengths = {len(arr) for _, arr in columns}
    if len(lengths) > 1:
        raise ValueError(f"columns of one batch differ in length: {sorted(lengths)}")
    out = _Parts()
    out.small(_field_header(_T_I64, 1) + struct.pack(">q", start_row_offset))
    out.small(_field_header(_T_LIST, 2) + _list_header(_T_STRUCT, 0))  # rows: required, empty
    out.small(_field_header(_T_LIST, 3) + _list_header(_T_STRUCT, len(columns)))
    for kind, arr in columns:
        _column_parts(out, kind, arr)
    out.small(bytes((_T_STOP,)))
    return out.result()


def encode_struct(obj: object) -> bytes:
    """Serialize one generated Thrift struct with the (C-accelerated) binary protocol."""
    buf = TTransport.TMemoryBuffer()
    obj.write(TBinaryProtocol.TBinaryProtocolAccelerated(buf))  # type: ignore[attr-defined]
    data: bytes = buf.getvalue()
    return data


def encode_fetch_results_resp(
    status: ttypes.TStatus, has_more_rows: bool, rowset_parts: list[Part]
) -> list[Part]:
    """The bytes of a ``TFetchResultsResp`` whose ``results`` are already-encoded TRowSet bytes."""
    out = _Parts()
    out.small(_field_header(_T_STRUCT, 1) + encode_struct(status))
    out.small(_field_header(_T_BOOL, 2) + (b"\x01" if has_more_rows else b"\x00"))
    out.small(_field_header(_T_STRUCT, 3))
    out.extend(rowset_parts)
    out.small(bytes((_T_STOP,)))
    return out.result()


# ---------------------------------------------------------------------------------------------
# object-built rowsets: old clients, logs and small metadata results


def rowbased_rowset(
    columns: Sequence[tuple[ColumnKind, pa.Array]], start_row_offset: int
) -> ttypes.TRowSet:
    """Row-based TRowSet for sessions negotiated below V6 (old clients only: Python objects)."""
    pylists = [(kind, arr.to_pylist()) for kind, arr in columns]
    return rowbased_rowset_from_pylists(pylists, start_row_offset)


__all__ = [
    "ColumnKind",
    "Part",
    "columnar_rowset_from_pylists",
    "encode_columnar_rowset",
    "encode_fetch_results_resp",
    "encode_struct",
    "hive_nulls_bitmap",
    "log_rowset",
    "nulls_bitset",
    "rowbased_rowset",
    "rowbased_rowset_from_pylists",
]
