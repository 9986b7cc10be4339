"""The gateway's :class:`~kyuubi_py.service.backend.BackendService`: sessions routed to engines.

- OpenSession: identity (the SASL user, else the OpenSession username for NOSASL), connection
  limits, conf validation, engine routing and the engine session (see :mod:`.router`). The client
  gets the engine's own session handle; every count taken is given back on every failure path.
- Statements and metadata calls are forwarded and their operation handles (the engine's)
  recorded under the session, so each later call finds its engine by handle, after the same
  ownership check as the session's.
- Status polls, result set metadata, fetches, cancel and close are relayed as the engine's raw
  reply bytes: row data is never decoded here.
- GetInfo is answered here after the first time: an engine's answers are static, so its reply to
  each type is kept per (engine address, type) and replayed; CLI_USER_NAME, the one per-session
  type, is the session user.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.Thrift import TMessageType
from thrift.transport.TTransport import TMemoryBuffer

from kyuubi_py.auth.provider import validate_user_name
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError, KyuubiSQLError
from kyuubi_py.protocol.dispatch import RawMessage, parse_message_header
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.status import raise_for_status
from kyuubi_py.protocol.tcli import TCLIService, ttypes
from kyuubi_py.server.engine_client import IDLE_CONNECTIONS
from kyuubi_py.server.limiter import ConnectionLimiter, Ticket
from kyuubi_py.server.router import OpenRequest, SessionRouter
from kyuubi_py.server.session import EngineAttachment, GatewaySession, GatewaySessionManager
from kyuubi_py.server.session_conf import REFUSED_SQL_STATE, validate_session_conf
from kyuubi_py.service.backend import Caller, FetchedRows, OpenedSession, Relayed
from kyuubi_py.service.lifecycle import CompositeService
from kyuubi_py.session.session import session_user

log = logging.getLogger(__name__)

#: The per-session GetInfo type: answered from the session, never cached.
USER_NAME_INFO = ttypes.TGetInfoType.CLI_USER_NAME
#: Bound of the GetInfo cache (engines x types); cleared when full.
MAX_CACHED_INFOS = 4096
_OK_STATUSES = (ttypes.TStatusCode.SUCCESS_STATUS, ttypes.TStatusCode.SUCCESS_WITH_INFO_STATUS)
_GET_INFO_RESULT = TCLIService.GetInfo_result


class GatewayBackendService(CompositeService):
    def __init__(
        self, router: SessionRouter, sessions: GatewaySessionManager | None = None
    ) -> None:
        super().__init__("GatewayBackendService")
        self.router = router
        self.sessions = sessions or GatewaySessionManager()
        self.add_service(self.sessions)
        self.limiter = ConnectionLimiter()
        self._infos: dict[tuple[str, int], RawMessage] = {}
        self._infos_lock = threading.Lock()

    def initialize(self, conf: KyuubiConf) -> None:
        self.limiter = ConnectionLimiter.from_conf(conf)
        super().initialize(conf)

    def stop(self) -> None:
        super().stop()
        IDLE_CONNECTIONS.clear()

    # -- sessions ------------------------------------------------------------------------------
    def open_session(
        self,
        caller: Caller,
        client_protocol: int,
        username: str | None,
        password: str | None,
        configuration: Mapping[str, str],
    ) -> OpenedSession:
        user = _identity(caller, username)
        ticket = self.limiter.acquire(user, caller.client_host)
        try:
            request = self.router.prepare(user, caller.client_host, configuration)
            session = self.sessions.open_session(
                caller,
                lambda handle: self._new_session(handle, caller, request, client_protocol, ticket),
            )
        except BaseException:
            ticket.release()
            raise
        return OpenedSession(session.handle, session.protocol_version, session.engine.configuration)

    def _new_session(
        self,
        handle: SessionHandle,
        caller: Caller,
        request: OpenRequest,
        client_protocol: int,
        ticket: Ticket,
    ) -> GatewaySession:
        def attach(session: GatewaySession) -> EngineAttachment:
            attachment = self.router.attach(request, session)
            release_node = attachment.release

            def release() -> None:
                ticket.release()
                release_node()

            attachment.release = release
            return attachment

        return GatewaySession(
            handle,
            caller,
            request.user,
            client_protocol,
            attach,
            self.sessions.session_closed,
            self.sessions.clock,
        )

    def close_session(self, caller: Caller, session: SessionHandle) -> None:
        self.sessions.close_session(caller, session)

    def connection_closed(self, caller: Caller) -> None:
        self.sessions.connection_closed(caller)

    def get_info(
        self, caller: Caller, session: SessionHandle, info_type: int
    ) -> ttypes.TGetInfoValue | RawMessage:
        owner = self.sessions.get_session(caller, session)
        if info_type == USER_NAME_INFO:
            return ttypes.TGetInfoValue(stringValue=owner.user)
        key = (owner.client.address, info_type)
        cached = self._infos.get(key)
        if cached is not None:
            owner.touch()
            return cached
        req = ttypes.TGetInfoReq(sessionHandle=session.to_thrift(), infoType=info_type)
        with owner.busy() as client:
            reply = client.relay("GetInfo", req)
        if _is_success(reply):
            with self._infos_lock:
                if len(self._infos) >= MAX_CACHED_INFOS:
                    self._infos.clear()
                self._infos[key] = reply
        return reply

    def set_client_info(
        self, caller: Caller, session: SessionHandle, configuration: Mapping[str, str]
    ) -> None:
        req = ttypes.TSetClientInfoReq(
            sessionHandle=session.to_thrift(), configuration=dict(configuration)
        )
        with self.sessions.get_session(caller, session).busy() as client:
            raise_for_status(client.call("SetClientInfo", req).status)

    # -- new operations ------------------------------------------------------------------------
    def execute_statement(
        self,
        caller: Caller,
        session: SessionHandle,
        statement: str,
        conf_overlay: Mapping[str, str],
        run_async: bool,
        query_timeout_s: int,
    ) -> OperationHandle:
        owner = self.sessions.get_session(caller, session)
        overlay = self._checked_overlay(owner, conf_overlay)
        req = ttypes.TExecuteStatementReq(
            sessionHandle=session.to_thrift(),
            statement=statement,
            confOverlay=overlay,
            runAsync=run_async,
            queryTimeout=query_timeout_s,
        )
        return self._new_operation(owner, "ExecuteStatement", req)

    def _checked_overlay(
        self, session: GatewaySession, overlay: Mapping[str, str]
    ) -> dict[str, str]:
        """A statement's conf overlay passes the same checks as the session conf: a key is
        policed on every channel it can arrive by."""
        if not overlay:
            return {}
        checked = validate_session_conf(overlay, self.router.policy, session.user)
        # The engine applies an overlay's keys as session confs, hivevars included.
        return {**checked.conf, **checked.hivevars}

    def _new_operation(self, session: GatewaySession, method: str, req: Any) -> OperationHandle:
        with session.busy() as client:
            handle = client.new_operation(method, req)
        self.sessions.add_engine_operation(session, handle)
        return handle

    def _metadata(
        self, caller: Caller, session: SessionHandle, method: str, req: Any
    ) -> OperationHandle:
        req.sessionHandle = session.to_thrift()
        return self._new_operation(self.sessions.get_session(caller, session), method, req)

    def get_type_info(self, caller: Caller, session: SessionHandle) -> OperationHandle:
        return self._metadata(caller, session, "GetTypeInfo", ttypes.TGetTypeInfoReq())

    def get_catalogs(self, caller: Caller, session: SessionHandle) -> OperationHandle:
        return self._metadata(caller, session, "GetCatalogs", ttypes.TGetCatalogsReq())

    def get_schemas(
        self, caller: Caller, session: SessionHandle, catalog: str | None, schema: str | None
    ) -> OperationHandle:
        req = ttypes.TGetSchemasReq(catalogName=catalog, schemaName=schema)
        return self._metadata(caller, session, "GetSchemas", req)

    def get_tables(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
        table_types: Sequence[str] | None,
    ) -> OperationHandle:
        req = ttypes.TGetTablesReq(
            catalogName=catalog,
            schemaName=schema,
            tableName=table,
            tableTypes=None if table_types is None else list(table_types),
        )
        return self._metadata(caller, session, "GetTables", req)

    def get_table_types(self, caller: Caller, session: SessionHandle) -> OperationHandle:
        return self._metadata(caller, session, "GetTableTypes", ttypes.TGetTableTypesReq())

    def get_columns(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
        column: str | None,
    ) -> OperationHandle:
        req = ttypes.TGetColumnsReq(
            catalogName=catalog, schemaName=schema, tableName=table, columnName=column
        )
        return self._metadata(caller, session, "GetColumns", req)

    def get_functions(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        function: str,
    ) -> OperationHandle:
        req = ttypes.TGetFunctionsReq(catalogName=catalog, schemaName=schema, functionName=function)
        return self._metadata(caller, session, "GetFunctions", req)

    def get_primary_keys(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
    ) -> OperationHandle:
        req = ttypes.TGetPrimaryKeysReq(catalogName=catalog, schemaName=schema, tableName=table)
        return self._metadata(caller, session, "GetPrimaryKeys", req)

    def get_cross_reference(
        self,
        caller: Caller,
        session: SessionHandle,
        parent: tuple[str | None, str | None, str | None],
        foreign: tuple[str | None, str | None, str | None],
    ) -> OperationHandle:
        req = ttypes.TGetCrossReferenceReq(
            parentCatalogName=parent[0],
            parentSchemaName=parent[1],
            parentTableName=parent[2],
            foreignCatalogName=foreign[0],
            foreignSchemaName=foreign[1],
            foreignTableName=foreign[2],
        )
        return self._metadata(caller, session, "GetCrossReference", req)

    # -- relayed operation calls ---------------------------------------------------------------
    def get_operation_status(
        self, caller: Caller, operation: OperationHandle, progress: bool
    ) -> RawMessage:
        req = ttypes.TGetOperationStatusReq(
            operationHandle=operation.to_thrift(), getProgressUpdate=progress
        )
        return self._relay_operation(caller, operation, "GetOperationStatus", req)

    def cancel_operation(self, caller: Caller, operation: OperationHandle) -> RawMessage:
        req = ttypes.TCancelOperationReq(operationHandle=operation.to_thrift())
        return self._relay_operation(caller, operation, "CancelOperation", req)

    def close_operation(self, caller: Caller, operation: OperationHandle) -> RawMessage:
        session = self.sessions.session_of_operation(caller, operation)
        self.sessions.remove_engine_operation(session, operation)
        req = ttypes.TCloseOperationReq(operationHandle=operation.to_thrift())
        with session.busy() as client:
            return client.relay("CloseOperation", req)

    def get_result_set_metadata(self, caller: Caller, operation: OperationHandle) -> RawMessage:
        req = ttypes.TGetResultSetMetadataReq(operationHandle=operation.to_thrift())
        return self._relay_operation(caller, operation, "GetResultSetMetadata", req)

    def fetch_results(
        self,
        caller: Caller,
        operation: OperationHandle,
        orientation: int,
        max_rows: int,
        fetch_type: int,
    ) -> FetchedRows | Relayed:
        req = ttypes.TFetchResultsReq(
            operationHandle=operation.to_thrift(),
            orientation=orientation,
            maxRows=max_rows,
            fetchType=fetch_type,
        )
        return self._relay_operation(caller, operation, "FetchResults", req)

    def get_query_id(self, caller: Caller, operation: OperationHandle) -> str:
        session = self.sessions.session_of_operation(caller, operation)
        req = ttypes.TGetQueryIdReq(operationHandle=operation.to_thrift())
        with session.busy() as client:
            return str(client.call("GetQueryId", req).queryId or "")

    def _relay_operation(
        self, caller: Caller, operation: OperationHandle, method: str, req: Any
    ) -> RawMessage:
        session = self.sessions.session_of_operation(caller, operation)
        with session.busy() as client:
            return client.relay(method, req)


def _is_success(reply: RawMessage) -> bool:
    """Whether a relayed GetInfo reply is a successful answer (errors are not cached)."""
    data = b"".join(bytes(part) for part in reply.parts)
    try:
        _, message_type, _, header_length = parse_message_header(data)
        if message_type != TMessageType.REPLY:
            return False
        result = _GET_INFO_RESULT()
        result.read(TBinaryProtocolAccelerated(TMemoryBuffer(data[header_length:])))
    except Exception:  # noqa: BLE001 - an undecodable reply is relayed, not cached
        return False
    resp = result.success
    return (
        resp is not None and resp.infoValue is not None and resp.status.statusCode in _OK_STATUSES
    )


def _identity(caller: Caller, username: str | None) -> str:
    """The session user: the authenticated SASL user, else (NOSASL) the OpenSession username."""
    user = session_user(caller, username)
    try:
        return validate_user_name(user)
    except AuthenticationError:
        raise KyuubiSQLError(f"Invalid user name {user[:64]!r}", REFUSED_SQL_STATE) from None
