"""Client side of the benchmarks: lean HS2 sessions on the project's accelerated client, a
raw fetch loop that never decodes rows, and a PyHive variant for realism.

The raw loop keeps the client off the two cores the servers need: it reads each FetchResults
reply as one undecoded frame and finds its row count by walking a few header bytes
(:func:`fetch_reply_rows`), so a 75 MB result costs the client almost nothing but the copy.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thrift.Thrift import TType

from kyuubi_py.protocol.dispatch import parse_message_header
from kyuubi_py.protocol.tcli import V10, ttypes
from kyuubi_py.transport.client import ThriftClientConnection

PASSWORD = "bench"
_OK_STATUS = (ttypes.TStatusCode.SUCCESS_STATUS, ttypes.TStatusCode.SUCCESS_WITH_INFO_STATUS)
_DONE = ttypes.TOperationState.FINISHED_STATE
_FAILED_STATES = {
    ttypes.TOperationState.ERROR_STATE,
    ttypes.TOperationState.CANCELED_STATE,
    ttypes.TOperationState.CLOSED_STATE,
    ttypes.TOperationState.TIMEDOUT_STATE,
    ttypes.TOperationState.UKNOWN_STATE,
}
# Status polls back off to 5 ms, as in the reference STS measurements (performance.md 2): a
# spinning client would steal one of the two cores from the server it measures.
_POLL_DELAYS_S = (0.0, 0.0005, 0.001, 0.002, 0.005)
FETCH_NEXT = ttypes.TFetchOrientation.FETCH_NEXT


class BenchClientError(RuntimeError):
    """A server answered with an error status (or an unexpected operation state)."""


def check(resp: Any, what: str) -> Any:
    status = resp.status
    if status.statusCode not in _OK_STATUS:
        raise BenchClientError(f"{what}: {status.errorMessage or status.statusCode}")
    return resp


# ---------------------------------------------------------------------------- raw replies

_I8 = struct.Struct(">b")
_I32 = struct.Struct(">i")
_FIXED = {TType.BOOL: 1, TType.BYTE: 1, TType.I16: 2, TType.I32: 4, TType.DOUBLE: 8, TType.I64: 8}


class _Cursor:
    """Reads the strict binary protocol from a buffer without building Python objects."""

    def __init__(self, data: bytes | memoryview, offset: int) -> None:
        self.data = data
        self.pos = offset

    def i8(self) -> int:
        (value,) = _I8.unpack_from(self.data, self.pos)
        self.pos += 1
        return int(value)

    def i16(self) -> int:
        (value,) = struct.unpack_from(">h", self.data, self.pos)
        self.pos += 2
        return int(value)

    def i32(self) -> int:
        (value,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(value)

    def field(self) -> tuple[int, int]:
        """``(type, id)`` of the next field; type STOP (0) ends the struct."""
        ftype = self.i8()
        return (ftype, 0) if ftype == TType.STOP else (ftype, self.i16())

    def string(self) -> bytes:
        length = self.i32()
        value = bytes(self.data[self.pos : self.pos + length])
        self.pos += length
        return value

    def skip(self, ttype: int) -> None:
        width = _FIXED.get(ttype)
        if width is not None:
            self.pos += width
        elif ttype == TType.STRING:
            length = self.i32()  # read first: `pos += i32()` would add to the stale pos
            self.pos += length
        elif ttype == TType.STRUCT:
            self.skip_struct()
        elif ttype in (TType.LIST, TType.SET):
            elem, count = self.i8(), self.i32()
            self._skip_many(elem, count)
        elif ttype == TType.MAP:
            key, value, count = self.i8(), self.i8(), self.i32()
            for _ in range(count):
                self.skip(key)
                self.skip(value)
        else:
            raise BenchClientError(f"cannot skip Thrift type {ttype}")

    def _skip_many(self, elem: int, count: int) -> None:
        width = _FIXED.get(elem)
        if width is not None:
            self.pos += width * count
            return
        for _ in range(count):
            self.skip(elem)

    def skip_struct(self) -> None:
        while True:
            ftype, _ = self.field()
            if ftype == TType.STOP:
                return
            self.skip(ftype)


def _read_status(cur: _Cursor) -> tuple[int, str]:
    code, message = -1, ""
    while True:
        ftype, fid = cur.field()
        if ftype == TType.STOP:
            return code, message
        if fid == 1 and ftype == TType.I32:
            code = cur.i32()
        elif fid == 5 and ftype == TType.STRING:
            message = cur.string().decode("utf-8", "replace")
        else:
            cur.skip(ftype)


def _rowset_rows(cur: _Cursor) -> int:
    """Rows of a TRowSet: the length of ``rows`` (row-based) or of the first column's values
    (columnar). Stops reading right there: O(1) whatever the size of the reply."""
    while True:
        ftype, fid = cur.field()
        if ftype == TType.STOP:
            return 0
        if fid == 2 and ftype == TType.LIST:
            cur.i8()
            count = cur.i32()
            if count:
                return count
            continue
        if fid == 3 and ftype == TType.LIST:
            cur.i8()
            if cur.i32() == 0:
                return 0
            cur.field()  # the union's member: <kind>Val, a struct
            ftype, fid = cur.field()  # its `values` list comes first
            if fid != 1 or ftype != TType.LIST:
                raise BenchClientError("unexpected TColumn layout")
            cur.i8()
            return cur.i32()
        cur.skip(ftype)


def fetch_reply_rows(frame: bytes | memoryview) -> tuple[int, bool]:
    """``(rows, hasMoreRows)`` of a raw FetchResults reply frame; raises on an error status."""
    name, message_type, _, offset = parse_message_header(frame)
    if message_type != 2:  # REPLY; EXCEPTION replies are not FetchResults results
        raise BenchClientError(f"{name}: unexpected message type {message_type}")
    cur = _Cursor(frame, offset)
    ftype, fid = cur.field()
    if ftype != TType.STRUCT or fid != 0:
        raise BenchClientError("FetchResults reply without a success struct")
    rows, has_more = 0, False
    while True:
        ftype, fid = cur.field()
        if ftype == TType.STOP:
            return rows, has_more
        if fid == 1:
            code, message = _read_status(cur)
            if code not in _OK_STATUS:
                raise BenchClientError(f"FetchResults: {message or code}")
        elif fid == 2 and ftype == TType.BOOL:
            has_more = cur.i8() != 0
        elif fid == 3 and ftype == TType.STRUCT:
            # hasMoreRows (2) precedes results (3) on the wire: nothing left to learn.
            return _rowset_rows(cur), has_more
        else:
            cur.skip(ftype)


# ---------------------------------------------------------------------------- sessions


@dataclass
class FetchStats:
    """What one query moved: rows, reply bytes, frames, and where the time went."""

    rows: int = 0
    bytes: int = 0
    frames: int = 0
    largest_frame: int = 0
    execute_s: float = 0.0
    fetch_s: float = 0.0
    frame_sizes: list[int] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.execute_s + self.fetch_s


class Session:
    """One HS2 connection with one open session, on the project's lean accelerated client."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        *,
        conf: Mapping[str, str] | None = None,
        timeout_s: float | None = 300.0,
        connect_timeout_s: float = 30.0,
    ) -> None:
        self.conn = ThriftClientConnection(
            host,
            port,
            user=user,
            password=PASSWORD,
            connect_timeout_s=connect_timeout_s,
            timeout_s=timeout_s,
        )
        try:
            req = ttypes.TOpenSessionReq(
                client_protocol=V10,
                username=user,
                password=PASSWORD,
                configuration=dict(conf or {}),
            )
            self.handle = check(self.conn.call("OpenSession", req), "OpenSession").sessionHandle
        except BaseException:
            self.conn.close()
            raise

    # --- single calls ---

    def get_info(self) -> Any:
        req = ttypes.TGetInfoReq(self.handle, ttypes.TGetInfoType.CLI_SERVER_NAME)
        return check(self.conn.call("GetInfo", req), "GetInfo")

    def execute(self, sql: str, run_async: bool = True) -> Any:
        req = ttypes.TExecuteStatementReq(self.handle, sql, runAsync=run_async)
        return check(self.conn.call("ExecuteStatement", req), "ExecuteStatement").operationHandle

    def status(self, op: Any) -> Any:
        req = ttypes.TGetOperationStatusReq(op)
        return check(self.conn.call("GetOperationStatus", req), "GetOperationStatus")

    def wait(self, op: Any, timeout_s: float = 600.0) -> None:
        """Poll until FINISHED; the engine long-polls, STS answers at once (so back off)."""
        deadline = time.monotonic() + timeout_s
        for attempt in range(1_000_000):
            resp = self.status(op)
            if resp.operationState == _DONE:
                return
            if resp.operationState in _FAILED_STATES:
                raise BenchClientError(
                    f"operation ended {resp.operationState}: {resp.errorMessage}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"operation not finished after {timeout_s} s")
            time.sleep(_POLL_DELAYS_S[min(attempt, len(_POLL_DELAYS_S) - 1)])

    def metadata(self, op: Any) -> Any:
        req = ttypes.TGetResultSetMetadataReq(op)
        return check(self.conn.call("GetResultSetMetadata", req), "GetResultSetMetadata")

    def fetch(self, op: Any, max_rows: int) -> Any:
        req = ttypes.TFetchResultsReq(op, FETCH_NEXT, max_rows)
        return check(self.conn.call("FetchResults", req), "FetchResults")

    def fetch_raw(self, op: Any, max_rows: int) -> bytes:
        return self.conn.call_raw("FetchResults", ttypes.TFetchResultsReq(op, FETCH_NEXT, max_rows))

    def close_operation(self, op: Any) -> None:
        check(self.conn.call("CloseOperation", ttypes.TCloseOperationReq(op)), "CloseOperation")

    def close(self) -> None:
        try:
            if self.conn.is_open:
                self.conn.call("CloseSession", ttypes.TCloseSessionReq(self.handle))
        finally:
            self.conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- whole statements ---

    def run(self, sql: str) -> None:
        """Execute a statement to completion and close it (setup, DDL)."""
        op = self.execute(sql)
        self.wait(op)
        self.close_operation(op)

    def select1_cycle(
        self, steps: dict[str, list[float]] | None = None, statement: str = "SELECT 1"
    ) -> int:
        """ExecuteStatement(async) + polls + metadata + one fetch + CloseOperation (B2) of a
        one-row ``statement``; ``steps`` collects each step's milliseconds (where a slow cycle
        loses its time)."""
        clock = _StepClock(steps)
        op = self.execute(statement)
        clock.lap("execute")
        self.wait(op)
        clock.lap("wait")
        self.metadata(op)
        clock.lap("metadata")
        rows, _ = fetch_reply_rows(self.fetch_raw(op, 1000))
        clock.lap("fetch")
        self.close_operation(op)
        clock.lap("close")
        if rows != 1:
            raise BenchClientError(f"{statement} returned {rows} rows")
        return rows

    def schemas_cycle(self) -> int:
        """GetSchemas + fetch + CloseOperation: a metadata call answered from the catalog."""
        req = ttypes.TGetSchemasReq(self.handle, schemaName="%")
        op = check(self.conn.call("GetSchemas", req), "GetSchemas").operationHandle
        self.wait(op)
        rows, _ = fetch_reply_rows(self.fetch_raw(op, 1000))
        self.close_operation(op)
        return rows

    def query(self, sql: str, max_rows: int, *, decode: bool = False) -> FetchStats:
        """``sql`` from ExecuteStatement to the empty fetch; raw frames unless ``decode``."""
        stats = FetchStats()
        start = time.perf_counter()
        op = self.execute(sql)
        self.wait(op)
        self.metadata(op)
        fetched = time.perf_counter()
        stats.execute_s = fetched - start
        if decode:
            self._fetch_decoded(op, max_rows, stats)
        else:
            self._fetch_raw_loop(op, max_rows, stats)
        stats.fetch_s = time.perf_counter() - fetched
        self.close_operation(op)
        return stats

    def _fetch_raw_loop(self, op: Any, max_rows: int, stats: FetchStats) -> None:
        # Clients fetch until an empty rowset: servers may leave hasMoreRows false (Kyuubi does).
        while True:
            frame = self.fetch_raw(op, max_rows)
            rows, _ = fetch_reply_rows(frame)
            stats.frames += 1
            stats.bytes += len(frame)
            stats.frame_sizes.append(len(frame))
            stats.largest_frame = max(stats.largest_frame, len(frame))
            if rows == 0:
                return
            stats.rows += rows

    def _fetch_decoded(self, op: Any, max_rows: int, stats: FetchStats) -> None:
        while True:
            results = self.fetch(op, max_rows).results
            stats.frames += 1
            rows = _decoded_rows(results)
            if rows == 0:
                return
            stats.rows += rows


class _StepClock:
    def __init__(self, steps: dict[str, list[float]] | None) -> None:
        self.steps = steps
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.steps is None:
            return
        now = time.perf_counter()
        self.steps.setdefault(name, []).append((now - self.last) * 1e3)
        self.last = now


def _decoded_rows(rowset: Any) -> int:
    if rowset.columns:
        column = rowset.columns[0]
        for member in column.thrift_spec[1:]:
            value = getattr(column, member[2])
            if value is not None:
                return len(value.values)
        return 0
    return len(rowset.rows or ())


# ---------------------------------------------------------------------------- PyHive


def pyhive_query(host: str, port: int, user: str, sql: str, max_rows: int) -> FetchStats:
    """The same statement through PyHive 0.7 (pure-Python Thrift decoding, row tuples): what a
    typical Python BI client sees, not what the server can do."""
    from pyhive import hive

    stats = FetchStats()
    conn = hive.connect(host=host, port=port, username=user, password=PASSWORD, auth="CUSTOM")
    try:
        cursor = conn.cursor(arraysize=max_rows)
        start = time.perf_counter()
        cursor.execute(sql)
        fetched = time.perf_counter()
        stats.execute_s = fetched - start
        while True:
            batch = cursor.fetchmany(max_rows)
            stats.frames += 1
            if not batch:
                break
            stats.rows += len(batch)
        stats.fetch_s = time.perf_counter() - fetched
        cursor.close()
    finally:
        conn.close()
    return stats
