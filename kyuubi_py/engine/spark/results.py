"""Result sets of the engine: Arrow batches served page by page to FetchResults.

- :class:`ArrowResult` holds a whole result (``DataFrame._collect_as_arrow()``, or a metadata
  table built in Python) and pages through it with :class:`RowCursor` (NEXT, FIRST, PRIOR).
- :class:`StreamingResult` serves ``kyuubi.operation.incremental.collect``: Arrow batches come from
  an iterator that computes one partition at a time, so the engine holds at most a partition or
  two. FETCH_FIRST restarts the iterator (the query runs again); PRIOR cannot be served.

Pages go to the wire without Python objects per value: each column is converted to its wire form
(:func:`~kyuubi_py.engine.spark.schema.to_wire_array`) and encoded by
:mod:`kyuubi_py.protocol.rowset` into the bytes of a ``TFetchResultsResp`` (V6+), or into
row-based ``TRow`` objects for older sessions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import pyarrow as pa
from pyspark.sql.types import StructType

from kyuubi_py.engine.spark.schema import column_kind, table_schema
from kyuubi_py.engine.spark.values import to_wire_array
from kyuubi_py.operation.operation import Orientation, RowCursor, unsupported_orientation
from kyuubi_py.protocol.dispatch import RawResponse
from kyuubi_py.protocol.rowset import (
    encode_columnar_rowset,
    encode_fetch_results_resp,
    rowbased_rowset,
)
from kyuubi_py.protocol.status import ok_status
from kyuubi_py.protocol.tcli import V6, ttypes
from kyuubi_py.service.backend import FetchedRows

log = logging.getLogger(__name__)

Page = FetchedRows | RawResponse
BatchIterator = Iterator[pa.RecordBatch]


class ResultSet(Protocol):
    @property
    def schema(self) -> StructType: ...

    def thrift_schema(self) -> ttypes.TTableSchema: ...

    def fetch(self, orientation: int, max_rows: int) -> Page: ...

    def close(self) -> None: ...


class PageEncoder:
    """Turns the Arrow columns of one page into a FetchResults reply for one session."""

    def __init__(self, schema: StructType, protocol_version: int, time_zone: str) -> None:
        self.schema = schema
        self.protocol_version = protocol_version
        self.time_zone = time_zone
        self._kinds = [column_kind(field.dataType) for field in schema.fields]

    def thrift_schema(self) -> ttypes.TTableSchema:
        return table_schema(self.schema, self.protocol_version)

    def encode(self, arrays: Sequence[pa.Array], start_row_offset: int) -> Page:
        columns = [
            (kind, to_wire_array(arr, field.dataType, self.time_zone))
            for kind, arr, field in zip(self._kinds, arrays, self.schema.fields, strict=True)
        ]
        if self.protocol_version < V6:
            return FetchedRows(rowbased_rowset(columns, start_row_offset))
        rowset_parts = encode_columnar_rowset(columns, start_row_offset)
        return RawResponse(encode_fetch_results_resp(ok_status(), False, rowset_parts))

    def empty_arrays(self) -> list[pa.Array]:
        return [pa.nulls(0) for _ in self.schema.fields]


def _table_columns(table: pa.Table) -> list[pa.Array]:
    return [column.combine_chunks() for column in table.columns]


class ArrowResult:
    """A result held whole in memory."""

    def __init__(self, encoder: PageEncoder, batches: Sequence[pa.RecordBatch]) -> None:
        self._encoder = encoder
        non_empty = [b for b in batches if b.num_rows]
        self._table: pa.Table | None = pa.Table.from_batches(non_empty) if non_empty else None
        self._cursor = RowCursor()
        self._lock = threading.Lock()

    @property
    def schema(self) -> StructType:
        return self._encoder.schema

    @property
    def row_count(self) -> int:
        return 0 if self._table is None else self._table.num_rows

    def thrift_schema(self) -> ttypes.TTableSchema:
        return self._encoder.thrift_schema()

    def fetch(self, orientation: int, max_rows: int) -> Page:
        with self._lock:
            start, end = self._cursor.window(orientation, max_rows, self.row_count)
            if self._table is None or start == end:
                return self._encoder.encode(self._encoder.empty_arrays(), start)
            page = self._table.slice(start, end - start)
        return self._encoder.encode(_table_columns(page), start)

    def close(self) -> None:
        with self._lock:
            self._table = None


class StreamingResult:
    """A result computed partition by partition while the client fetches it."""

    def __init__(self, encoder: PageEncoder, open_batches: Callable[[], BatchIterator]) -> None:
        self._encoder = encoder
        self._open_batches = open_batches
        self._lock = threading.Lock()
        self._batches: BatchIterator | None = None
        self._pending: list[pa.RecordBatch] = []
        self._offset = 0
        self._closed = False

    @property
    def schema(self) -> StructType:
        return self._encoder.schema

    def thrift_schema(self) -> ttypes.TTableSchema:
        return self._encoder.thrift_schema()

    def start(self) -> None:
        """Start the query and compute its first partition, so that errors surface in
        ExecuteStatement rather than in the first FetchResults."""
        with self._lock:
            self._restart()
            self._fill(1)

    def fetch(self, orientation: int, max_rows: int) -> Page:
        with self._lock:
            if orientation == Orientation.FETCH_FIRST:
                self._restart()
            elif orientation != Orientation.FETCH_NEXT:
                raise unsupported_orientation(orientation)
            start = self._offset
            rows = self._take(max(max_rows, 0))
            self._offset += rows.num_rows if rows is not None else 0
        if rows is None:
            return self._encoder.encode(self._encoder.empty_arrays(), start)
        return self._encoder.encode(_table_columns(rows), start)

    def _restart(self) -> None:
        self._drop_iterator()
        self._pending = []
        self._offset = 0
        if not self._closed:
            self._batches = self._open_batches()

    def _fill(self, wanted: int) -> None:
        """Pull batches until ``wanted`` rows are pending or the data ends."""
        have = sum(b.num_rows for b in self._pending)
        while have < wanted and self._batches is not None:
            batch = next(self._batches, None)
            if batch is None:
                self._drop_iterator()
                break
            if batch.num_rows:
                self._pending.append(batch)
                have += batch.num_rows

    def _take(self, max_rows: int) -> pa.Table | None:
        self._fill(max_rows)
        if not self._pending or max_rows == 0:
            return None
        table = pa.Table.from_batches(self._pending)
        taken = table.slice(0, max_rows)
        rest = table.slice(max_rows)
        self._pending = rest.to_batches() if rest.num_rows else []
        return taken

    def _drop_iterator(self) -> None:
        batches, self._batches = self._batches, None
        close = getattr(batches, "close", None)
        if close is not None:
            try:
                close()  # a generator: tells Spark to stop serving partitions
            except Exception:  # noqa: BLE001 - the iterator is being abandoned anyway
                log.debug("Closing a result iterator failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_iterator()
            self._pending = []
