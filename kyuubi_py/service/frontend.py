"""The TCLIService RPCs, shared by the gateway and the engine.

One instance serves one client connection. Each RPC unpacks its request into plain values, calls
the :class:`BackendService`, and builds the response. Every error becomes an ERROR ``TStatus`` in
one place (:meth:`ThriftFrontend._guard`); required response fields are always set, because Java
clients validate them even on errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from kyuubi_py.errors import KyuubiError, KyuubiSQLError
from kyuubi_py.protocol.dispatch import RawMessage, RawResponse
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.status import error_status, ok_status
from kyuubi_py.protocol.tcli import SERVER_MAX_PROTOCOL, ttypes
from kyuubi_py.service.backend import BackendService, Caller, FetchedRows, OperationStatus

log = logging.getLogger(__name__)

R = TypeVar("R")
Reply = Any  # a ttypes response struct, or a RawMessage / RawResponse passed through

_NO_HANDLE = ttypes.TOperationHandle(
    operationId=ttypes.THandleIdentifier(guid=b"\0" * 16, secret=b"\0" * 16),
    operationType=ttypes.TOperationType.UNKNOWN,
    hasResultSet=False,
)


def negotiate_protocol(client_protocol: int | None) -> int:
    """``min(client, V10)``; values above the server's (e.g. Databricks' 0xA50x) count as newer."""
    if client_protocol is None or client_protocol < 0:
        return int(SERVER_MAX_PROTOCOL)
    return int(min(client_protocol, SERVER_MAX_PROTOCOL))


class ThriftFrontend:
    """TCLIService handler for one connection. Method names are the IDL's (CamelCase)."""

    def __init__(self, backend: BackendService, caller: Caller) -> None:
        self._backend = backend
        self.caller = caller

    def connection_closed(self) -> None:
        self._backend.connection_closed(self.caller)

    # -- the one error adapter -----------------------------------------------------------------
    def _guard(self, rpc: str, respond: Callable[[], R], on_error: Callable[[Any], R]) -> R:
        try:
            return respond()
        except KyuubiError as exc:
            log.info("%s failed for %s: %s", rpc, self.caller.user or self.caller.client_host, exc)
            return on_error(error_status(exc))
        except Exception as exc:  # noqa: BLE001 - the client gets an error status, never a drop
            log.exception("%s failed unexpectedly", rpc)
            return on_error(error_status(exc))

    def _status_only(self, rpc: str, resp_cls: Any, action: Callable[[], Any]) -> Reply:
        def respond() -> Reply:
            result = action()
            if isinstance(result, (RawMessage, RawResponse)):
                return result
            return resp_cls(status=ok_status())

        return self._guard(rpc, respond, lambda status: resp_cls(status=status))

    def _new_operation(
        self, rpc: str, resp_cls: Any, action: Callable[[], OperationHandle]
    ) -> Reply:
        return self._guard(
            rpc,
            lambda: resp_cls(status=ok_status(), operationHandle=action().to_thrift()),
            lambda status: resp_cls(status=status),
        )

    # -- sessions ------------------------------------------------------------------------------
    def OpenSession(self, req: ttypes.TOpenSessionReq) -> ttypes.TOpenSessionResp:  # noqa: N802
        def respond() -> ttypes.TOpenSessionResp:
            opened = self._backend.open_session(
                self.caller,
                req.client_protocol,
                req.username,
                req.password,
                dict(req.configuration or {}),
            )
            return ttypes.TOpenSessionResp(
                status=ok_status(),
                serverProtocolVersion=opened.protocol_version,
                sessionHandle=opened.handle.to_thrift(),
                configuration=dict(opened.configuration),
            )

        return self._guard(
            "OpenSession",
            respond,
            lambda status: ttypes.TOpenSessionResp(
                status=status,
                serverProtocolVersion=negotiate_protocol(req.client_protocol),
                configuration={},
            ),
        )

    def CloseSession(self, req: ttypes.TCloseSessionReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._status_only(
            "CloseSession",
            ttypes.TCloseSessionResp,
            lambda: self._backend.close_session(self.caller, session),
        )

    def GetInfo(self, req: ttypes.TGetInfoReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)

        def respond() -> Reply:
            value = self._backend.get_info(self.caller, session, req.infoType)
            if isinstance(value, RawMessage):
                return value
            return ttypes.TGetInfoResp(status=ok_status(), infoValue=value)

        # infoValue is required: STS leaves it unset on errors and drops the connection.
        return self._guard(
            "GetInfo",
            respond,
            lambda status: ttypes.TGetInfoResp(
                status=status, infoValue=ttypes.TGetInfoValue(lenValue=0)
            ),
        )

    def SetClientInfo(self, req: ttypes.TSetClientInfoReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._status_only(
            "SetClientInfo",
            ttypes.TSetClientInfoResp,
            lambda: self._backend.set_client_info(
                self.caller, session, dict(req.configuration or {})
            ),
        )

    # -- statements and metadata ---------------------------------------------------------------
    def ExecuteStatement(self, req: ttypes.TExecuteStatementReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "ExecuteStatement",
            ttypes.TExecuteStatementResp,
            lambda: self._backend.execute_statement(
                self.caller,
                session,
                req.statement or "",
                dict(req.confOverlay or {}),
                bool(req.runAsync),
                int(req.queryTimeout or 0),
            ),
        )

    def GetTypeInfo(self, req: ttypes.TGetTypeInfoReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetTypeInfo",
            ttypes.TGetTypeInfoResp,
            lambda: self._backend.get_type_info(self.caller, session),
        )

    def GetCatalogs(self, req: ttypes.TGetCatalogsReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetCatalogs",
            ttypes.TGetCatalogsResp,
            lambda: self._backend.get_catalogs(self.caller, session),
        )

    def GetSchemas(self, req: ttypes.TGetSchemasReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetSchemas",
            ttypes.TGetSchemasResp,
            lambda: self._backend.get_schemas(
                self.caller, session, req.catalogName, req.schemaName
            ),
        )

    def GetTables(self, req: ttypes.TGetTablesReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetTables",
            ttypes.TGetTablesResp,
            lambda: self._backend.get_tables(
                self.caller,
                session,
                req.catalogName,
                req.schemaName,
                req.tableName,
                req.tableTypes,
            ),
        )

    def GetTableTypes(self, req: ttypes.TGetTableTypesReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetTableTypes",
            ttypes.TGetTableTypesResp,
            lambda: self._backend.get_table_types(self.caller, session),
        )

    def GetColumns(self, req: ttypes.TGetColumnsReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetColumns",
            ttypes.TGetColumnsResp,
            lambda: self._backend.get_columns(
                self.caller,
                session,
                req.catalogName,
                req.schemaName,
                req.tableName,
                req.columnName,
            ),
        )

    def GetFunctions(self, req: ttypes.TGetFunctionsReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetFunctions",
            ttypes.TGetFunctionsResp,
            lambda: self._backend.get_functions(
                self.caller, session, req.catalogName, req.schemaName, req.functionName or "%"
            ),
        )

    def GetPrimaryKeys(self, req: ttypes.TGetPrimaryKeysReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetPrimaryKeys",
            ttypes.TGetPrimaryKeysResp,
            lambda: self._backend.get_primary_keys(
                self.caller, session, req.catalogName, req.schemaName, req.tableName
            ),
        )

    def GetCrossReference(self, req: ttypes.TGetCrossReferenceReq) -> Reply:  # noqa: N802
        session = SessionHandle.from_thrift(req.sessionHandle)
        return self._new_operation(
            "GetCrossReference",
            ttypes.TGetCrossReferenceResp,
            lambda: self._backend.get_cross_reference(
                self.caller,
                session,
                (req.parentCatalogName, req.parentSchemaName, req.parentTableName),
                (req.foreignCatalogName, req.foreignSchemaName, req.foreignTableName),
            ),
        )

    # -- operations ----------------------------------------------------------------------------
    def GetOperationStatus(self, req: ttypes.TGetOperationStatusReq) -> Reply:  # noqa: N802
        operation = OperationHandle.from_thrift(req.operationHandle)

        def respond() -> Reply:
            status = self._backend.get_operation_status(
                self.caller, operation, bool(req.getProgressUpdate)
            )
            if isinstance(status, RawMessage):
                return status
            return _status_response(status)

        return self._guard(
            "GetOperationStatus",
            respond,
            lambda status: ttypes.TGetOperationStatusResp(status=status),
        )

    def CancelOperation(self, req: ttypes.TCancelOperationReq) -> Reply:  # noqa: N802
        operation = OperationHandle.from_thrift(req.operationHandle)
        return self._status_only(
            "CancelOperation",
            ttypes.TCancelOperationResp,
            lambda: self._backend.cancel_operation(self.caller, operation),
        )

    def CloseOperation(self, req: ttypes.TCloseOperationReq) -> Reply:  # noqa: N802
        operation = OperationHandle.from_thrift(req.operationHandle)
        return self._status_only(
            "CloseOperation",
            ttypes.TCloseOperationResp,
            lambda: self._backend.close_operation(self.caller, operation),
        )

    def GetResultSetMetadata(self, req: ttypes.TGetResultSetMetadataReq) -> Reply:  # noqa: N802
        operation = OperationHandle.from_thrift(req.operationHandle)

        def respond() -> Reply:
            schema = self._backend.get_result_set_metadata(self.caller, operation)
            if isinstance(schema, RawMessage):
                return schema
            return ttypes.TGetResultSetMetadataResp(status=ok_status(), schema=schema)

        return self._guard(
            "GetResultSetMetadata",
            respond,
            lambda status: ttypes.TGetResultSetMetadataResp(status=status),
        )

    def FetchResults(self, req: ttypes.TFetchResultsReq) -> Reply:  # noqa: N802
        operation = OperationHandle.from_thrift(req.operationHandle)

        def respond() -> Reply:
            fetched = self._backend.fetch_results(
                self.caller,
                operation,
                req.orientation if req.orientation is not None else 0,
                int(req.maxRows or 0),
                int(req.fetchType or 0),
            )
            if not isinstance(fetched, FetchedRows):
                return fetched
            return ttypes.TFetchResultsResp(
                status=ok_status(), hasMoreRows=fetched.has_more_rows, results=fetched.rowset
            )

        return self._guard(
            "FetchResults", respond, lambda status: ttypes.TFetchResultsResp(status=status)
        )

    def GetQueryId(self, req: ttypes.TGetQueryIdReq) -> ttypes.TGetQueryIdResp:  # noqa: N802
        operation = OperationHandle.from_thrift(req.operationHandle)
        # TGetQueryIdResp has no status: an unknown handle gets an empty (but set) id.
        return self._guard(
            "GetQueryId",
            lambda: ttypes.TGetQueryIdResp(
                queryId=self._backend.get_query_id(self.caller, operation)
            ),
            lambda _status: ttypes.TGetQueryIdResp(queryId=""),
        )

    # -- unsupported by design -----------------------------------------------------------------
    def GetDelegationToken(self, req: ttypes.TGetDelegationTokenReq) -> Reply:  # noqa: N802
        return ttypes.TGetDelegationTokenResp(status=_delegation_unsupported())

    def CancelDelegationToken(self, req: ttypes.TCancelDelegationTokenReq) -> Reply:  # noqa: N802
        return ttypes.TCancelDelegationTokenResp(status=_delegation_unsupported())

    def RenewDelegationToken(self, req: ttypes.TRenewDelegationTokenReq) -> Reply:  # noqa: N802
        return ttypes.TRenewDelegationTokenResp(status=_delegation_unsupported())

    def UploadData(self, req: ttypes.TUploadDataReq) -> Reply:  # noqa: N802
        return ttypes.TUploadDataResp(
            status=error_status(KyuubiSQLError.feature_not_supported("UploadData")),
            operationHandle=_NO_HANDLE,
        )

    def DownloadData(self, req: ttypes.TDownloadDataReq) -> Reply:  # noqa: N802
        return ttypes.TDownloadDataResp(
            status=error_status(KyuubiSQLError.feature_not_supported("DownloadData")),
            operationHandle=_NO_HANDLE,
        )


def _delegation_unsupported() -> ttypes.TStatus:
    return error_status(KyuubiSQLError("Delegation token is not supported", "0A000"))


def _status_response(status: OperationStatus) -> ttypes.TGetOperationStatusResp:
    return ttypes.TGetOperationStatusResp(
        status=ok_status(),
        operationState=status.wire_state,
        sqlState=status.sql_state,
        errorCode=status.error_code,
        errorMessage=status.error_message,
        operationStarted=status.started_ms,
        operationCompleted=status.completed_ms,
        hasResultSet=status.has_result_set,
        progressUpdateResponse=status.progress,
        numModifiedRows=status.num_modified_rows,
    )
