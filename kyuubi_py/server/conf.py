"""Configuration keys of the gateway only (connection limits, engine launch, engine secret).

Keys an engine also reads live in :mod:`kyuubi_py.config.keys`; keys here are never passed to an
engine. Every key a client must not change is ``server_only`` (dropped from session conf).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.config.entry import duration_conf, int_conf, str_conf

# -- connection limits ------------------------------------------------------------------------
SERVER_LIMIT_CONNECTIONS_PER_USER = int_conf(
    "kyuubi.server.limit.connections.per.user",
    doc="Most sessions one user may have open on this gateway at once (unset: no limit).",
    default=None,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)
SERVER_LIMIT_CONNECTIONS_PER_IPADDRESS = int_conf(
    "kyuubi.server.limit.connections.per.ipaddress",
    doc="Most sessions one client IP address may have open on this gateway at once (unset: no "
    "limit).",
    default=None,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)
SERVER_LIMIT_CONNECTIONS_PER_USER_IPADDRESS = int_conf(
    "kyuubi.server.limit.connections.per.user.ipaddress",
    doc="Most sessions one user may have open from one IP address at once (unset: no limit).",
    default=None,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)
SERVER_LIMIT_ENGINE_STARTUP = int_conf(
    "kyuubi.server.limit.engine.startup",
    doc="Most engines this gateway launches at once. Further launches wait (within "
    "kyuubi.session.engine.initialize.timeout), so a burst of new users does not start a burst "
    "of JVMs. A slot is freed as soon as a launch ends, registered or failed.",
    default=2,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)

# -- engine launch ----------------------------------------------------------------------------
SESSION_ENGINE_LOG_DIR = str_conf(
    "kyuubi.session.engine.log.dir",
    doc="Directory of the engines' logs: one file <app name>.log per engine with everything "
    "spark-submit and the engine print. A relative path is resolved against the working "
    "directory of the gateway.",
    default="engine_logs",
    since="0.1.0",
    server_only=True,
)
ENGINE_WORK_DIR_ROOT = str_conf(
    "kyuubi.engine.work.dir.root",
    doc="Root of the engines' working directories: an engine runs in <root>/<user> (its "
    "user, group or the server user, by share level), where Spark leaves its local files "
    "(derby.log, metastore_db, spark-warehouse unless configured elsewhere). A relative path is "
    "resolved against the working directory of the gateway.",
    default="engine_work",
    since="0.1.0",
    server_only=True,
)
ENGINE_SPARK_SUBMIT = str_conf(
    "kyuubi.engine.spark.submit",
    doc="Path of the spark-submit that launches engines. Unset: $SPARK_HOME/bin/spark-submit, "
    "else the one inside the installed pyspark package.",
    default=None,
    since="0.1.0",
    server_only=True,
)
SESSION_ENGINE_OPEN_MAX_ATTEMPTS = int_conf(
    "kyuubi.session.engine.open.max.attempts",
    doc="How many engines a new session tries before failing: a registered engine that refuses "
    "connections is dead (its ZooKeeper node is stale), so its node is deleted and the next one "
    "is tried, or a new engine launched.",
    default=3,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)
SESSION_ENGINE_LOGIN_TIMEOUT = duration_conf(
    "kyuubi.session.engine.login.timeout",
    doc="How long the gateway waits to connect to an engine and finish the SASL handshake.",
    default=15.0,
    since="0.1.0",
    server_only=True,
)
SESSION_ENGINE_REQUEST_TIMEOUT = duration_conf(
    "kyuubi.session.engine.request.timeout",
    doc="How long the gateway waits for an engine to answer one request (0: no limit). A "
    "synchronous statement is one request, so keep this above the longest query, or unset. An "
    "engine that died closes its connections, which fails requests at once either way.",
    default=0.0,
    since="0.1.0",
    server_only=True,
)
SESSION_ENGINE_STARTUP_ERROR_MAX_SIZE = int_conf(
    "kyuubi.session.engine.startup.error.max.size",
    doc="Most characters of engine log quoted in the error of a failed launch.",
    default=8192,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)

# -- engine secret ----------------------------------------------------------------------------
ENGINE_SECRET_NODE = str_conf(
    "kyuubi.ha.zookeeper.engine.secure.secret.node",
    doc="Znode holding the secret gateways present to engines, used when neither the "
    "KYUUBI_ENGINE_SECRET environment variable nor kyuubi.engine.secret.file is set. The first "
    "gateway creates it with a random value; every gateway on the same ZooKeeper then reaches "
    "every engine. Unset: /<kyuubi.ha.namespace>_secret. Whoever can read ZooKeeper can read it.",
    default=None,
    since="0.1.0",
    server_only=True,
)


def default_spark_submit() -> str:
    """``$SPARK_HOME/bin/spark-submit``, else ``bin/spark-submit`` of the pyspark package (found
    without importing pyspark, which is slow and starts nothing we need here)."""
    spark_home = os.environ.get("SPARK_HOME")
    if spark_home:
        return str(Path(spark_home) / "bin" / "spark-submit")
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        return "spark-submit"  # resolved through PATH at launch time
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "spark-submit")


def spark_submit_path(conf: KyuubiConf) -> str:
    return conf.get(ENGINE_SPARK_SUBMIT) or default_spark_submit()
