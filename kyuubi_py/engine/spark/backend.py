"""The engine's :class:`~kyuubi_py.service.backend.BackendService`: sessions on one SparkSession.

Session and operation bookkeeping (ownership, idle timeouts, the exec pool, query timeouts) is
the shared :class:`~kyuubi_py.session.manager.SessionManager`; this class maps each RPC onto
Spark sessions and operations.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pyspark.sql import SparkSession

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.engine.spark import metadata
from kyuubi_py.engine.spark.conf import (
    ENGINE_EXEC_POOL_WAIT_QUEUE_SIZE,
    ENGINE_INFO_DBMS_NAME,
    ENGINE_INFO_DBMS_VERSION,
    ENGINE_INITIALIZE_SQL,
)
from kyuubi_py.engine.spark.info import ServerInfo, get_info, keyword_csv
from kyuubi_py.engine.spark.initialize import EngineInitializer, split_statements
from kyuubi_py.engine.spark.operation import ExecuteStatement
from kyuubi_py.engine.spark.progress import JobProgressMonitor
from kyuubi_py.engine.spark.session import CurrentUser, SparkSQLSession
from kyuubi_py.operation.manager import ExecPool, OperationManager
from kyuubi_py.operation.operation import Operation
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.tcli import ttypes
from kyuubi_py.service.backend import Caller, FetchedRows, OpenedSession, OperationStatus, Relayed
from kyuubi_py.service.frontend import negotiate_protocol
from kyuubi_py.service.lifecycle import CompositeService
from kyuubi_py.session.manager import SessionManager
from kyuubi_py.session.session import session_user

log = logging.getLogger(__name__)

LOG_FETCH_TYPE = 1


def engine_exec_pool(conf: KyuubiConf) -> ExecPool:
    return ExecPool(
        conf.get(keys.EXEC_POOL_SIZE),
        conf.get(ENGINE_EXEC_POOL_WAIT_QUEUE_SIZE),
        name="kyuubi-engine-exec",
    )


class SparkSQLBackendService(CompositeService):
    """Implements :class:`~kyuubi_py.service.backend.BackendService` on Spark."""

    def __init__(self, spark: SparkSession, name: str = "SparkSQLBackendService") -> None:
        super().__init__(name)
        self.spark = spark
        self.sessions: SessionManager[SparkSQLSession] = SessionManager(
            OperationManager(engine_exec_pool, name="SparkOperationManager"),
            name="SparkSessionManager",
        )
        self.add_service(self.sessions)
        self.progress = JobProgressMonitor(spark)
        self._current_user = CurrentUser(spark)
        self._initializer = EngineInitializer(spark, [])
        self._keywords: str | None = None
        self._keywords_lock = threading.Lock()
        #: Answers of every GetInfo type but CLI_USER_NAME: static for the engine's life.
        self._infos: dict[int, ttypes.TGetInfoValue] = {}
        self._server_info: ServerInfo | None = None

    @property
    def operations(self) -> OperationManager:
        return self.sessions.operations

    def start(self) -> None:
        statements = split_statements(self.conf.get(ENGINE_INITIALIZE_SQL))
        self._initializer = EngineInitializer(self.spark, statements)
        self._initializer.start()
        super().start()
        self.progress.start(self.conf)
        # ODBC_KEYWORDS can take seconds the first time: never on a client's call if avoidable.
        threading.Thread(
            target=self._warm_keywords, name="kyuubi-sql-keywords", daemon=True
        ).start()

    def _warm_keywords(self) -> None:
        self._initializer.wait()  # after the initialization statements: they gate sessions
        try:
            self._sql_keywords()
        except Exception:  # noqa: BLE001 - retried on the first GetInfo that needs it
            log.warning("Fetching Spark's SQL keywords failed", exc_info=True)

    def stop(self) -> None:
        self.progress.stop()
        super().stop()

    # -- sessions ------------------------------------------------------------------------------
    def open_session(
        self,
        caller: Caller,
        client_protocol: int,
        username: str | None,
        password: str | None,
        configuration: Mapping[str, str],
    ) -> OpenedSession:
        protocol = negotiate_protocol(client_protocol)
        user = session_user(caller, username)
        self._initializer.wait()  # kyuubi.engine.initialize.sql runs before any session's work

        def create(handle: SessionHandle) -> SparkSQLSession:
            return SparkSQLSession(
                handle,
                caller,
                user,
                protocol,
                configuration,
                self.spark,
                self.conf,
                self._current_user,
                self.sessions.clock,
            )

        session = self.sessions.open_session(caller, create)
        return OpenedSession(session.handle, protocol, session.response_configuration())

    def close_session(self, caller: Caller, session: SessionHandle) -> None:
        self.sessions.close_session(caller, session)

    def get_info(
        self, caller: Caller, session: SessionHandle, info_type: int
    ) -> ttypes.TGetInfoValue:
        opened = self.sessions.get_session(caller, session)
        if info_type == ttypes.TGetInfoType.CLI_USER_NAME:
            return get_info(info_type, replace(self._info(), user=opened.user))
        value = self._infos.get(info_type)
        if value is None:
            value = self._infos[info_type] = get_info(info_type, self._info())
        return value

    def _info(self) -> ServerInfo:
        info = self._server_info
        if info is None:
            info = self._server_info = ServerInfo(
                dbms_name=self.conf.get(ENGINE_INFO_DBMS_NAME) or "Spark SQL",
                dbms_version=self.conf.get(ENGINE_INFO_DBMS_VERSION) or self.spark.version,
                user="",
                keywords=self._sql_keywords,
            )
        return info

    def _sql_keywords(self) -> str:
        """Spark's keyword list (what ``sql_keywords()`` lists), fetched once."""
        with self._keywords_lock:
            if self._keywords is None:
                self._keywords = keyword_csv(self._fetch_keywords())
            return self._keywords

    def _fetch_keywords(self) -> list[str]:
        jvm: Any = self.spark.sparkContext._jvm
        try:
            # One py4j call instead of a Spark job (``sql_keywords()`` lists this very Seq).
            utils = jvm.org.apache.spark.sql.catalyst.util.SQLKeywordUtils
            joined = str(utils.keywords().mkString("\n"))
            if joined:
                return joined.split("\n")
        except Exception:  # noqa: BLE001 - another Spark: ask SQL
            log.info("SQLKeywordUtils unavailable; listing keywords with sql_keywords()")
        rows = self.spark.sql("SELECT keyword FROM sql_keywords()").collect()
        return [str(row[0]) for row in rows]

    def set_client_info(
        self, caller: Caller, session: SessionHandle, configuration: Mapping[str, str]
    ) -> None:
        # STS answers SUCCESS and only logs it; kept on the session for diagnostics.
        opened = self.sessions.get_session(caller, session)
        opened.client_info.update(configuration)
        log.info("Client info of %r: %s", opened, dict(configuration))

    def connection_closed(self, caller: Caller) -> None:
        self.sessions.connection_closed(caller)

    # -- statements and metadata ---------------------------------------------------------------
    def _submit(self, session: SparkSQLSession, operation: Operation) -> OperationHandle:
        self.sessions.submit(session, operation)
        return operation.handle

    def execute_statement(
        self,
        caller: Caller,
        session: SessionHandle,
        statement: str,
        conf_overlay: Mapping[str, str],
        run_async: bool,
        query_timeout_s: int,
    ) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        opened.ran_statements = True  # it may create temporary views
        for key, value in conf_overlay.items():
            opened.spark.conf.set(key, value)  # Hive applies confOverlay to the session
        timeout = self.operations.effective_timeout(query_timeout_s)
        operation = ExecuteStatement(
            opened, statement, run_async=run_async, query_timeout_s=timeout
        )
        self.progress.watch(operation)
        return self._submit(opened, operation)

    def get_type_info(self, caller: Caller, session: SessionHandle) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetTypeInfo(opened))

    def get_catalogs(self, caller: Caller, session: SessionHandle) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetCatalogs(opened))

    def get_schemas(
        self, caller: Caller, session: SessionHandle, catalog: str | None, schema: str | None
    ) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetSchemas(opened, schema))

    def get_tables(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
        table_types: Sequence[str] | None,
    ) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetTables(opened, schema, table, table_types))

    def get_table_types(self, caller: Caller, session: SessionHandle) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetTableTypes(opened))

    def get_columns(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
        column: str | None,
    ) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetColumns(opened, schema, table, column))

    def get_functions(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        function: str,
    ) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetFunctions(opened, schema, function))

    def get_primary_keys(
        self,
        caller: Caller,
        session: SessionHandle,
        catalog: str | None,
        schema: str | None,
        table: str | None,
    ) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetPrimaryKeys(opened))

    def get_cross_reference(
        self,
        caller: Caller,
        session: SessionHandle,
        parent: tuple[str | None, str | None, str | None],
        foreign: tuple[str | None, str | None, str | None],
    ) -> OperationHandle:
        opened = self.sessions.get_session(caller, session)
        return self._submit(opened, metadata.GetCrossReference(opened))

    # -- operations ----------------------------------------------------------------------------
    def get_operation_status(
        self, caller: Caller, operation: OperationHandle, progress: bool
    ) -> OperationStatus:
        op = self.sessions.get_operation(caller, operation)
        if not op.is_terminal:
            op.wait_for_completion(self.operations.status_poll_timeout_s)  # long poll
        return op.status()

    def cancel_operation(self, caller: Caller, operation: OperationHandle) -> None:
        self.sessions.get_operation(caller, operation).cancel()

    def close_operation(self, caller: Caller, operation: OperationHandle) -> None:
        self.sessions.close_operation(caller, operation)

    def get_result_set_metadata(
        self, caller: Caller, operation: OperationHandle
    ) -> ttypes.TTableSchema:
        op = self.sessions.get_operation(caller, operation)
        op.require_finished(self.operations.status_poll_timeout_s)
        return op.result_schema()

    def fetch_results(
        self,
        caller: Caller,
        operation: OperationHandle,
        orientation: int,
        max_rows: int,
        fetch_type: int,
    ) -> FetchedRows | Relayed:
        op = self.sessions.get_operation(caller, operation)
        rows = self._fetch_size(max_rows)
        if fetch_type == LOG_FETCH_TYPE:
            return op.fetch_log(orientation, rows)
        op.require_finished(self.operations.status_poll_timeout_s)
        return op.fetch(orientation, rows)

    def _fetch_size(self, max_rows: int) -> int:
        """The client's maxRows, capped (keeps replies far below Java's 100 MiB limit)."""
        cap = self.conf.get(keys.OPERATION_RESULT_MAX_FETCH_ROWS)
        if max_rows <= 0:
            max_rows = self.conf.get(keys.SERVER_THRIFT_RESULTSET_DEFAULT_FETCH_SIZE)
        return min(max_rows, cap)

    def get_query_id(self, caller: Caller, operation: OperationHandle) -> str:
        return self.sessions.get_operation(caller, operation).handle.public_id
