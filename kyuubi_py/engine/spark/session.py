"""A client session of the engine: its own Spark session (``spark.newSession()``).

Each client session gets an isolated SQL conf, current database, temporary views and functions
(SPARK-10416); the SparkContext, cached data and global temp views are shared. The OpenSession
configuration is applied like Spark Thrift Server does: ``set:hiveconf:k=v`` and
``set:hivevar:k=v`` become SQL confs of the session (Spark's parser substitutes ``${k}``,
``${hivevar:k}`` and ``${hiveconf:k}`` from them when ``spark.sql.variable.substitute`` is on),
other keys too, and ``use:database`` switches the database last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.config.entry import ConfigEntry
from kyuubi_py.engine.spark.conf import ENGINE_SHOW_TABLES_LAYOUT
from kyuubi_py.engine.spark.schema import quote_identifier
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.operation.operation import Clock
from kyuubi_py.protocol.handles import SessionHandle
from kyuubi_py.protocol.tcli import V6
from kyuubi_py.service.backend import Caller
from kyuubi_py.session.session import Session

log = logging.getLogger(__name__)

USE_DATABASE = "use:database"
HIVECONF_PREFIX = "set:hiveconf:"
HIVEVAR_PREFIX = "set:hivevar:"
#: Prefixes whose keys are never applied: JVM system properties and environment variables
#: belong to the engine process, not to one session.
REFUSED_PREFIXES = ("set:system:", "set:env:", "system:", "env:")
#: Keys the gateway or the client sends that are not Spark confs.
IGNORED_KEYS = frozenset({"hive.server2.proxy.user", "kyuubi.session.proxy.user"})
FETCH_SIZE_KEY = "hive.server2.thrift.resultset.default.fetch.size"


def split_configuration(configuration: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """``(confs to set, database to use)`` from an OpenSession configuration map."""
    confs: dict[str, str] = {}
    database = None
    for key, value in configuration.items():
        if key == USE_DATABASE:
            database = value.strip() or None
        elif key.startswith(HIVECONF_PREFIX):
            confs[key[len(HIVECONF_PREFIX) :]] = value
        elif key.startswith(HIVEVAR_PREFIX):
            confs[key[len(HIVEVAR_PREFIX) :]] = value
        elif key.startswith(REFUSED_PREFIXES):
            log.warning("Ignoring session configuration %s", key)
        elif key not in IGNORED_KEYS and key:
            confs[key] = value
    return confs, database


class CurrentUser:
    """Spark's ``CurrentUserContext.CURRENT_USER`` thread local: ``current_user()`` answers it,
    so every statement sets its session's user on the thread that analyzes and runs it."""

    def __init__(self, spark: SparkSession) -> None:
        jvm: Any = spark.sparkContext._jvm
        self._local = jvm.org.apache.spark.sql.catalyst.CurrentUserContext.CURRENT_USER()

    @contextmanager
    def scope(self, user: str) -> Iterator[None]:
        self._local.set(user)
        try:
            yield
        finally:
            self._local.remove()


class SparkSQLSession(Session):
    def __init__(
        self,
        handle: SessionHandle,
        caller: Caller,
        user: str,
        protocol_version: int,
        configuration: Mapping[str, str],
        root: SparkSession,
        engine_conf: KyuubiConf,
        current_user: CurrentUser,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(handle, caller, user, protocol_version, configuration, clock)
        self._root = root
        self.engine_conf = engine_conf
        self._current_user = current_user
        self._spark: SparkSession | None = None
        self.client_info: dict[str, str] = {}
        #: Set when a statement ran: only then can the session hold temporary views.
        self.ran_statements = False

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            raise KyuubiSQLError(f"Session {self.handle.public_id} is closed")
        return self._spark

    def open(self) -> None:
        self._spark = self._root.newSession()
        confs, database = split_configuration(self.configuration)
        for key, value in confs.items():
            self._set_conf(key, value)
        if database is not None:
            self._use_database(database)

    def _set_conf(self, key: str, value: str) -> None:
        try:
            self.spark.conf.set(key, value)
        except Exception as exc:  # noqa: BLE001 - static/core confs: ignored, as Kyuubi does
            log.warning(
                "Session %s: cannot set %s: %s",
                self.handle.public_id,
                key,
                str(exc).split("\n", 1)[0],
            )

    def _use_database(self, database: str) -> None:
        try:
            with self.statement_scope(f"kyuubi-open-{self.handle.public_id}", "use database"):
                self.spark.sql(f"USE {quote_identifier(database)}")
        except Exception as exc:
            raise KyuubiSQLError(
                f"Cannot use database {database}: {str(exc).split(chr(10), 1)[0]}", "3F000"
            ) from exc

    def response_configuration(self) -> dict[str, str]:
        """OpenSession's reply map: always present (Hive JDBC dereferences it)."""
        fetch_size = self.engine_conf.get(keys.SERVER_THRIFT_RESULTSET_DEFAULT_FETCH_SIZE)
        return {FETCH_SIZE_KEY: str(fetch_size)}

    # -- per statement ---------------------------------------------------------------------------
    @contextmanager
    def statement_scope(self, job_group: str, description: str) -> Iterator[None]:
        """Run Spark work as this session's user in ``job_group`` (so it can be cancelled)."""
        context = self.spark.sparkContext
        context.setJobGroup(job_group, description[:1000], interruptOnCancel=True)
        try:
            with self._current_user.scope(self.user):
                yield
        finally:
            jsc: Any = context._jsc
            jsc.clearJobGroup()

    def cancel_job_group(self, job_group: str) -> None:
        # The SparkContext is shared and outlives this session: jobs of a closed session's
        # statements can still be cancelled.
        self._root.sparkContext.cancelJobGroup(job_group)

    def setting(self, entry: ConfigEntry[Any]) -> str | None:
        """A kyuubi.* key as this session sees it: its Spark conf (set by OpenSession or
        ``SET k=v``) over the engine's conf."""
        value = self.spark.conf.get(entry.key, None)
        if value is None:
            raw = self.engine_conf.get(entry)
            return None if raw is None else entry.render(raw)
        return value

    def flag(self, entry: ConfigEntry[bool]) -> bool:
        value = self.setting(entry)
        return value is not None and entry.convert(value) is True

    def time_zone(self) -> str:
        return session_time_zone(self.spark)

    def hive_table_layout(self) -> bool:
        """Whether SHOW TABLES answers the Hive layout (see ENGINE_SHOW_TABLES_LAYOUT)."""
        raw = self.setting(ENGINE_SHOW_TABLES_LAYOUT) or "AUTO"
        layout = ENGINE_SHOW_TABLES_LAYOUT.convert(raw)
        if layout == "AUTO":
            return bool(self.protocol_version <= V6)
        return bool(layout == "HIVE")

    def close(self) -> None:
        spark, self._spark = self._spark, None
        if spark is None or not self.ran_statements:
            return  # no statement, no temporary view: no py4j round trips to close
        try:
            _drop_temp_views(spark)
        except Exception:  # noqa: BLE001 - the session goes away either way
            log.warning(
                "Session %s: dropping temp views failed", self.handle.public_id, exc_info=True
            )


def session_time_zone(spark: SparkSession) -> str:
    """The time zone Spark renders timestamps of ``spark`` in."""
    return spark.conf.get("spark.sql.session.timeZone") or "UTC"


def _drop_temp_views(spark: SparkSession) -> None:
    """Drop (and uncache) the session's temporary views; global temp views are shared."""
    jsession: Any = spark._jsparkSession
    names: Any = jsession.sessionState().catalog().getTempViewNames()
    if names.isEmpty():
        return
    for name in [str(names.apply(i)) for i in range(names.length())]:
        spark.catalog.dropTempView(name)
