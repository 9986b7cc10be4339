"""A small raw TCLIService client for the engine tests (protocol-level checks pyhive hides)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kyuubi_py.protocol.tcli import V10, ttypes
from kyuubi_py.transport.client import ThriftClientConnection

T = ttypes
Orientation = ttypes.TFetchOrientation
State = ttypes.TOperationState


def ok(resp: Any) -> Any:
    assert resp.status.statusCode == T.TStatusCode.SUCCESS_STATUS, resp.status
    return resp


def column_values(column: T.TColumn) -> list[Any]:
    for name in (
        "boolVal",
        "byteVal",
        "i16Val",
        "i32Val",
        "i64Val",
        "doubleVal",
        "stringVal",
        "binaryVal",
    ):
        typed = getattr(column, name)
        if typed is not None:
            values = list(typed.values)
            nulls = bytes(typed.nulls or b"")
            return [
                None if i // 8 < len(nulls) and nulls[i // 8] >> (i % 8) & 1 else v
                for i, v in enumerate(values)
            ]
    raise AssertionError(f"empty TColumn {column}")


def rows_of(rowset: T.TRowSet) -> list[tuple[Any, ...]]:
    if rowset.columns is None:
        return [tuple(_row_value(v) for v in row.colVals) for row in rowset.rows]
    columns = [column_values(c) for c in rowset.columns]
    return list(zip(*columns, strict=True)) if columns else []


def _row_value(value: T.TColumnValue) -> Any:
    for name in ("boolVal", "byteVal", "i16Val", "i32Val", "i64Val", "doubleVal", "stringVal"):
        typed = getattr(value, name)
        if typed is not None:
            return typed.value
    return None


class Client:
    """One connection with one session."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str = "alice",
        *,
        sasl: bool = True,
        password: str = "x",
        protocol: int = V10,
        configuration: Mapping[str, str] | None = None,
    ) -> None:
        self.conn = ThriftClientConnection(
            host, port, user=user, password=password, sasl=sasl, timeout_s=60
        )
        self.opened = self.call(
            "OpenSession",
            T.TOpenSessionReq(
                client_protocol=protocol,
                username=user,
                configuration=dict(configuration) if configuration is not None else None,
            ),
        )
        ok(self.opened)
        self.session = self.opened.sessionHandle

    def call(self, method: str, req: Any) -> Any:
        return self.conn.call(method, req)

    def close(self) -> None:
        try:
            self.call("CloseSession", T.TCloseSessionReq(sessionHandle=self.session))
        finally:
            self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(
        self,
        statement: str,
        *,
        run_async: bool = False,
        timeout_s: int = 0,
        overlay: Mapping[str, str] | None = None,
    ) -> T.TExecuteStatementResp:
        return self.call(
            "ExecuteStatement",
            T.TExecuteStatementReq(
                sessionHandle=self.session,
                statement=statement,
                runAsync=run_async,
                queryTimeout=timeout_s,
                confOverlay=dict(overlay or {}),
            ),
        )

    def status(self, op: T.TOperationHandle) -> T.TGetOperationStatusResp:
        return ok(self.call("GetOperationStatus", T.TGetOperationStatusReq(operationHandle=op)))

    def wait(self, op: T.TOperationHandle, timeout_s: float = 60) -> T.TGetOperationStatusResp:
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(op)
            if status.operationState not in (
                State.INITIALIZED_STATE,
                State.PENDING_STATE,
                State.RUNNING_STATE,
            ):
                return status
            assert time.monotonic() < deadline, "operation did not finish in time"

    def fetch(
        self,
        op: T.TOperationHandle,
        max_rows: int = 1000,
        orientation: int = Orientation.FETCH_NEXT,
        fetch_type: int = 0,
    ) -> T.TFetchResultsResp:
        return self.call(
            "FetchResults",
            T.TFetchResultsReq(
                operationHandle=op, orientation=orientation, maxRows=max_rows, fetchType=fetch_type
            ),
        )

    def fetch_rows(
        self,
        op: T.TOperationHandle,
        max_rows: int = 1000,
        orientation: int = Orientation.FETCH_NEXT,
    ) -> list[tuple[Any, ...]]:
        return rows_of(ok(self.fetch(op, max_rows, orientation)).results)

    def fetch_all(self, op: T.TOperationHandle, batch: int = 1000) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        while page := self.fetch_rows(op, batch):
            rows.extend(page)
        return rows

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        op = ok(self.execute(statement)).operationHandle
        try:
            return self.fetch_all(op)
        finally:
            self.close_operation(op)

    def schema(self, op: T.TOperationHandle) -> list[tuple[str, int]]:
        resp = ok(self.call("GetResultSetMetadata", T.TGetResultSetMetadataReq(operationHandle=op)))
        return [
            (c.columnName, c.typeDesc.types[0].primitiveEntry.type) for c in resp.schema.columns
        ]

    def logs(self, op: T.TOperationHandle, orientation: int = Orientation.FETCH_NEXT) -> list[str]:
        return [str(r[0]) for r in rows_of(ok(self.fetch(op, 1000, orientation, 1)).results)]

    def cancel(self, op: T.TOperationHandle) -> Any:
        return self.call("CancelOperation", T.TCancelOperationReq(operationHandle=op))

    def close_operation(self, op: T.TOperationHandle) -> Any:
        return self.call("CloseOperation", T.TCloseOperationReq(operationHandle=op))
