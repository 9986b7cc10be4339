"""The narrow interface between the Thrift frontend and whatever serves sessions.

The engine implements it with Spark; the gateway implements it by routing to engines. Methods take
plain values and return plain values. Where a gateway can pass an engine's reply through without
decoding it (status polls, metadata, fetches), a method may instead return a
:class:`~kyuubi_py.protocol.dispatch.RawMessage`, which the frontend hands to the wire untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kyuubi_py.operation.state import OperationState
from kyuubi_py.protocol.dispatch import RawMessage, RawResponse
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.tcli import ttypes


@dataclass(frozen=True)
class Caller:
    """Who is calling: the connection and, when it authenticated over SASL, its identity."""

    connection_id: int
    user: str | None
    client_host: str
    transport: str = "SASL"


@dataclass(frozen=True)
class OpenedSession:
    handle: SessionHandle
    protocol_version: int
    configuration: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OperationStatus:
    state: OperationState
    #: The value put on the wire: equals ``state`` except where a client cannot take it
    #: (PENDING is reported as RUNNING; TIMEDOUT as ERROR below V10).
    wire_state: int
    has_result_set: bool
    error_message: str | None = None
    sql_state: str | None = None
    error_code: int | None = None
    started_ms: int = 0
    completed_ms: int = 0
    num_modified_rows: int | None = None
    progress: ttypes.TProgressUpdateResp | None = None


@dataclass(frozen=True)
class FetchedRows:
    rowset: ttypes.TRowSet
    has_more_rows: bool = False


Relayed = RawMessage | RawResponse


class BackendService(Protocol):
    def open_session(
        self,
        caller: Caller,
        client_protocol: int,
        username: str | None,
        password: str | None,
        configuration: Mapping[str, str],
    ) -> OpenedSession: ...

    def close_session(self, caller: Caller, session: SessionHandle) -> None: ...

    def get_info(
        self, caller: Caller, session: SessionHandle, info_type: int
    ) -> ttypes.TGetInfoValue | RawMessage: ...

    def execute_statement(
        self,
        caller: Caller,
        session: SessionHandle,
        statement: str,
        conf_overlay: Mapping[str, str],
        run_async: bool,
        query_timeout_s: int,
    ) -> OperationHandle: ...

    def get_type_info(self, caller: Caller, session: SessionHandle) -> OperationHandle: ...

    def get_catalogs(self, caller: Caller, session: SessionHandle) -> OperationHandle: ...

    def get_schemas(
        self, caller: Caller, session: SessionHandle, catalog: str | None, schema: str | None
    ) -> OperationHandle: ...

    def get_tables(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
        table_types: Sequence[str] | None,
    ) -> OperationHandle: ...

    def get_table_types(self, caller: Caller, session: SessionHandle) -> OperationHandle: ...

    def get_columns(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
        column: str | None,
    ) -> OperationHandle: ...

    def get_functions(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        function: str,
    ) -> OperationHandle: ...

    def get_primary_keys(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
    ) -> OperationHandle: ...

    def get_cross_reference(
        self,
        caller: Caller,
        session: SessionHandle,
        parent: tuple[str | None, str | None, str | None],
        foreign: tuple[str | None, str | None, str | None],
    ) -> OperationHandle: ...

    def get_operation_status(
        self, caller: Caller, operation: OperationHandle, progress: bool
    ) -> OperationStatus | RawMessage: ...

    def cancel_operation(self, caller: Caller, operation: OperationHandle) -> RawMessage | None: ...

    def close_operation(self, caller: Caller, operation: OperationHandle) -> RawMessage | None: ...

    def get_result_set_metadata(
        self, caller: Caller, operation: OperationHandle
    ) -> ttypes.TTableSchema | RawMessage: ...

    def fetch_results(
        self,
        caller: Caller,
        operation: OperationHandle,
        orientation: int,
        max_rows: int,
        fetch_type: int,
    ) -> FetchedRows | Relayed: ...

    def get_query_id(self, caller: Caller, operation: OperationHandle) -> str: ...

    def set_client_info(
        self, caller: Caller, session: SessionHandle, configuration: Mapping[str, str]
    ) -> None: ...

    def connection_closed(self, caller: Caller) -> None:
        """The client's connection dropped: close what it leaves behind."""
        ...
