"""Configuration keys of the Spark SQL engine (core keys live in :mod:`kyuubi_py.config.keys`)."""

from __future__ import annotations

from kyuubi_py.config.entry import bool_conf, duration_conf, int_conf, str_conf

ENGINE_EXEC_POOL_WAIT_QUEUE_SIZE = int_conf(
    "kyuubi.backend.engine.exec.pool.wait.queue.size",
    doc="Asynchronous statements that may wait for a free exec pool thread; beyond that "
    "ExecuteStatement fails with 'query rejected' instead of queueing without bound.",
    default=100,
    since="0.1.0",
    check=lambda v: v >= 0,
    check_message="must be 0 or more",
)
ENGINE_OPERATION_LOG_MAX_LINES = int_conf(
    "kyuubi.engine.operation.log.max.lines",
    doc="Lines of operation log kept in memory per operation; the oldest are dropped first.",
    default=10000,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
)
ENGINE_PROGRESS_INTERVAL = duration_conf(
    "kyuubi.engine.spark.progress.interval",
    doc="How often the progress of running Spark jobs is written to their operation logs "
    "(0: never).",
    default=1.0,
    since="0.1.0",
)
ENGINE_SHOW_TABLES_LAYOUT = str_conf(
    "kyuubi.engine.spark.show.tables.layout",
    doc="Columns of SHOW TABLES / SHOW VIEWS results. SPARK: (namespace, tableName, "
    "isTemporary), as Spark-identified JDBC/ODBC drivers expect. HIVE: one column tab_name, "
    "which pyhive's SQLAlchemy dialect (Superset) reads as the table name. AUTO: HIVE for "
    "sessions that negotiated protocol V6 or lower (pyhive and impyla), else SPARK. Settable "
    "per session.",
    default="AUTO",
    since="0.1.0",
    choices=("AUTO", "SPARK", "HIVE"),
    upper=True,
)
ENGINE_INFO_DBMS_NAME = str_conf(
    "kyuubi.engine.info.dbms.name",
    doc="Server and DBMS name answered to GetInfo. BI drivers (Simba Spark ODBC, Power BI) "
    "refuse servers not named 'Spark SQL'.",
    default="Spark SQL",
    since="0.1.0",
)
ENGINE_INFO_DBMS_VERSION = str_conf(
    "kyuubi.engine.info.dbms.version",
    doc="DBMS version answered to GetInfo; the Spark version when unset.",
    default=None,
    since="0.1.0",
)
ENGINE_INCREMENTAL_PREFETCH = bool_conf(
    "kyuubi.engine.spark.incremental.collect.prefetch",
    doc="With incremental collect, whether Spark computes the next partition while the current "
    "one is being fetched (true: faster, holds two partitions in driver memory). Settable per "
    "session.",
    default=True,
    since="0.1.0",
)
ENGINE_INITIALIZE_SQL = str_conf(
    "kyuubi.engine.initialize.sql",
    doc="Semicolon-separated SQL statements the engine runs on its own Spark session as soon as "
    "Spark is up, through the same collect path as client queries. They run while the engine "
    "registers and its first client connects, so a new user's first query finds class loading, "
    "code generation and the Arrow path already warm; sessions open once they are done. When "
    "none of them needed a Spark job (constants are answered on the driver), a small job then "
    "warms that path in the background. A "
    "failing statement is logged and the engine serves anyway. Empty: none. Set by the "
    "server; dropped from client session conf.",
    default="SELECT 1",
    since="0.1.0",
    server_only=True,
)
