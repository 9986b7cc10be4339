"""ExecuteStatement on Spark, and the base of every engine operation.

Every operation runs its Spark work in its own job group (``kyuubi-<operation id>``) with
``interruptOnCancel``, so CancelOperation, the query timeout and CloseOperation cancel exactly its
jobs, and as its session's user (``current_user()``).

Results (see :mod:`kyuubi_py.engine.spark.results`):

- plans whose rows the driver already holds (constants, VALUES, command output): evaluated on the
  driver without a Spark job (:mod:`kyuubi_py.engine.spark.local_result`).
- default: ``DataFrame._collect_as_arrow()``, the Arrow path of ``toPandas``: Spark ships Arrow
  record batches over a local socket, no Python object per value.
- ``kyuubi.operation.incremental.collect=true``: ``Dataset.toArrowBatchRdd`` served with
  ``PythonRDD.toLocalIteratorAndServe`` -- the Arrow equivalent of ``toLocalIterator``, which
  computes one partition per request, so the engine holds a partition or two, never the whole
  result. (``toLocalIterator`` itself pickles every row.)

Columns Arrow cannot carry (``needs_string_cast``: year-month intervals, variants, UDTs) are
rewritten in Spark first (``collect_sql``); ``to_wire_array`` then formats every column as STS.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
from pyspark.errors import PySparkException
from pyspark.serializers import NoOpSerializer
from pyspark.sql import DataFrame, SparkSession, functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StringType, StructField, StructType
from pyspark.util import _local_iterator_from_socket

from kyuubi_py.config import keys
from kyuubi_py.engine.spark.conf import ENGINE_INCREMENTAL_PREFETCH
from kyuubi_py.engine.spark.local_result import large_var_types, local_batches
from kyuubi_py.engine.spark.results import (
    ArrowResult,
    BatchIterator,
    Page,
    PageEncoder,
    ResultSet,
    StreamingResult,
)
from kyuubi_py.engine.spark.schema import collect_sql, needs_string_cast, quote_identifier
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.operation.operation import Operation
from kyuubi_py.protocol.status import GENERAL_SQL_STATE
from kyuubi_py.protocol.tcli import ttypes

if TYPE_CHECKING:
    from kyuubi_py.engine.spark.session import SparkSQLSession

log = logging.getLogger(__name__)

#: Schema of a statement without output columns (STS parity: beeline shows an empty table).
EMPTY_RESULT_SCHEMA = StructType([StructField("Result", StringType(), True)])
_SHOW_TABLES = re.compile(r"^\s*SHOW\s+(TABLES|VIEWS)\b", re.IGNORECASE)
_DESCRIBE = re.compile(r"^\s*DESC(RIBE)?\b", re.IGNORECASE)
_DML = re.compile(r"^\s*(INSERT|MERGE|UPDATE|DELETE)\b", re.IGNORECASE)
_SPARK_TABLE_COLUMNS = (
    ["namespace", "tableName", "isTemporary"],
    ["namespace", "viewName", "isTemporary"],
)


class SparkOperation(Operation):
    """An operation of a :class:`SparkSQLSession` whose result is a :class:`ResultSet`."""

    def __init__(
        self,
        session: SparkSQLSession,
        operation_type: int,
        *,
        statement: str = "",
        run_async: bool = False,
        query_timeout_s: float | None = None,
    ) -> None:
        super().__init__(
            session,
            operation_type,
            statement=statement,
            run_async=run_async,
            query_timeout_s=query_timeout_s,
            log_enabled=session.flag(keys.OPERATION_LOG_ENABLED),
            clock=session.clock,
        )
        self.spark_session = session
        self.job_group = f"kyuubi-{self.handle.public_id}"
        self.result: ResultSet | None = None
        self._spark_calls = 0  # threads inside spark_scope (submitting or awaiting jobs)
        self._calls_lock = threading.Lock()

    @property
    def in_spark(self) -> bool:
        with self._calls_lock:
            return self._spark_calls > 0

    def _count_spark_call(self, delta: int) -> None:
        with self._calls_lock:
            self._spark_calls += delta

    @contextmanager
    def spark_scope(self) -> Iterator[None]:
        with self.spark_session.statement_scope(self.job_group, self.statement or self.job_group):
            self._count_spark_call(1)
            try:
                yield
            finally:
                self._count_spark_call(-1)

    def interrupt_again(self) -> None:
        """Cancel the job group once more: a job submitted just after a cancel escaped it."""
        self._interrupt()

    def _interrupt(self) -> None:
        self.spark_session.cancel_job_group(self.job_group)

    def _release(self) -> None:
        result, self.result = self.result, None
        if result is not None:
            result.close()

    def _to_sql_error(self, exc: Exception) -> KyuubiSQLError:
        return spark_error(exc, self.statement)

    def _require_result(self) -> ResultSet:
        if self.result is None:
            raise KyuubiSQLError(f"Operation {self.handle.public_id} has no result set")
        return self.result

    def result_schema(self) -> ttypes.TTableSchema:
        return self._require_result().thrift_schema()

    def fetch(self, orientation: int, max_rows: int) -> Page:
        return self._require_result().fetch(orientation, max_rows)

    def encoder(self, schema: StructType) -> PageEncoder:
        session = self.spark_session
        return PageEncoder(schema, session.protocol_version, session.time_zone())


class ExecuteStatement(SparkOperation):
    def __init__(
        self,
        session: SparkSQLSession,
        statement: str,
        *,
        run_async: bool,
        query_timeout_s: float | None,
    ) -> None:
        super().__init__(
            session,
            ttypes.TOperationType.EXECUTE_STATEMENT,
            statement=statement,
            run_async=run_async,
            query_timeout_s=query_timeout_s,
        )
        self._modified_rows: int | None = None

    def num_modified_rows(self) -> int | None:
        return self._modified_rows

    def _execute(self) -> None:
        self.write_log(f"Execute in session {self.session.handle.public_id}: {self.statement}")
        with self.spark_scope():
            df = run_sql(self.spark_session.spark, self.statement)
            if self.is_terminal:
                return
            if _DML.match(self.statement):
                self._modified_rows = written_rows(df)
            df = self._client_layout(df)
            result = self._collect(df)
        self.result = result
        if self.is_terminal:  # cancelled or timed out while collecting: free at once
            self._release()

    def _client_layout(self, df: DataFrame) -> DataFrame:
        """SHOW TABLES / SHOW VIEWS in Hive's one-column layout for Hive-minded clients."""
        if not _SHOW_TABLES.match(self.statement) or df.columns not in _SPARK_TABLE_COLUMNS:
            return df
        if not self.spark_session.hive_table_layout():
            return df
        return df.select(F.col(df.columns[1]).alias("tab_name"))

    def _collect(self, df: DataFrame) -> ResultSet:
        schema = df.schema
        if not schema.fields:
            return ArrowResult(self.encoder(EMPTY_RESULT_SCHEMA), [])
        wire_df = collectable(df)
        encoder = self.encoder(schema)
        batches = local_batches(wire_df, encoder.time_zone)
        if batches is not None:
            self.write_log(f"Evaluated {_row_count(batches)} rows on the driver (no Spark job)")
            return ArrowResult(encoder, batches)
        if self.spark_session.flag(keys.OPERATION_INCREMENTAL_COLLECT):
            return self._stream(wire_df, encoder)
        batches = job_batches(wire_df)
        self.write_log(f"Collected {_row_count(batches)} rows in {len(batches)} Arrow batches")
        return ArrowResult(encoder, batches)

    def _stream(self, wire_df: DataFrame, encoder: PageEncoder) -> StreamingResult:
        prefetch = self.spark_session.flag(ENGINE_INCREMENTAL_PREFETCH)
        arrow_schema = _batch_schema(wire_df, encoder.time_zone)

        def open_batches() -> BatchIterator:
            with self.spark_scope():
                return arrow_batches(wire_df, arrow_schema, prefetch)

        result = StreamingResult(encoder, open_batches)
        result.start()
        self.write_log("Streaming results partition by partition (incremental collect)")
        return result


def run_sql(spark: SparkSession, statement: str) -> DataFrame:
    """``spark.sql(statement)`` without its conversion of query arguments, which takes four
    py4j round trips to build an empty array (a sixth of a ``SELECT 1``'s JVM calls)."""
    return DataFrame(cast(Any, spark)._jsparkSession.sql(statement), spark)


def written_rows(df: DataFrame) -> int | None:
    """Rows an executed write command wrote (its ``numOutputRows`` metric), for JDBC's
    ``executeUpdate``; ``None`` when the command does not report it."""
    try:
        jdf: Any = df._jdf
        plan = jdf.queryExecution().executedPlan()
        if plan.getClass().getSimpleName() != "CommandResultExec":
            return None
        metric = plan.commandPhysicalPlan().metrics().get("numOutputRows")
        return int(metric.get().value()) if metric.isDefined() else None
    except Exception:  # noqa: BLE001 - only a nicety for executeUpdate; never fail the write
        log.debug("Reading the written row count failed", exc_info=True)
        return None


def collectable(df: DataFrame) -> DataFrame:
    """``df`` with the columns Arrow cannot carry rewritten by ``collect_sql`` (positional, so
    duplicate column names are fine); ``to_wire_array`` formats them with the original types."""
    fields = df.schema.fields
    if not any(needs_string_cast(f.dataType) for f in fields):
        return df
    names = [f"_c{i}" for i in range(len(fields))]
    exprs = [
        f"{collect_sql(quote_identifier(name), f.dataType)} AS {quote_identifier(name)}"
        for name, f in zip(names, fields, strict=True)
    ]
    return df.toDF(*names).selectExpr(*exprs)


def job_batches(wire_df: DataFrame) -> list[pa.RecordBatch]:
    """The whole result of a ``collectable`` DataFrame as Arrow record batches, by a Spark job."""
    return cast(list[pa.RecordBatch], cast(Any, wire_df)._collect_as_arrow())


def _row_count(batches: list[pa.RecordBatch]) -> int:
    return sum(b.num_rows for b in batches)


def _batch_schema(df: DataFrame, time_zone: str) -> pa.Schema:
    """The Arrow schema Spark writes ``df``'s batches with (the batches carry none)."""
    return to_arrow_schema(df.schema, timezone=time_zone, prefers_large_types=large_var_types(df))


def arrow_batches(df: DataFrame, schema: pa.Schema, prefetch: bool) -> BatchIterator:
    """Arrow record batches of ``df``, one partition computed at a time."""
    jvm: Any = df.sparkSession.sparkContext._jvm
    jdf: Any = df._jdf
    rdd = jdf.toArrowBatchRdd()
    sock_info = jvm.org.apache.spark.api.python.PythonRDD.toLocalIteratorAndServe(rdd, prefetch)
    return _decode_batches(_local_iterator_from_socket(sock_info, NoOpSerializer()), schema)


def _decode_batches(messages: Iterator[bytes], schema: pa.Schema) -> BatchIterator:
    for message in messages:
        yield pa.ipc.read_record_batch(pa.py_buffer(message), schema)


# -- errors -------------------------------------------------------------------------------------
def spark_error(exc: Exception, statement: str = "") -> KyuubiSQLError:
    """Spark's error as the client sees it: STS's "Error running query: <class>: <message>", with
    Spark's error class and SQL state."""
    if isinstance(exc, KyuubiSQLError):
        return exc
    if isinstance(exc, PySparkException):
        return _captured_error(exc, statement)
    if isinstance(exc, Py4JJavaError):
        text = str(exc.java_exception.toString())
        return KyuubiSQLError(f"Error running query: {text}", GENERAL_SQL_STATE)
    return KyuubiSQLError(f"Error running query: {type(exc).__name__}: {exc}", GENERAL_SQL_STATE)


def _captured_error(exc: PySparkException, statement: str) -> KyuubiSQLError:
    error_class = exc.getCondition()
    message = f"Error running query: {_java_class(exc)}: {str(exc).strip()}"
    if error_class == "TABLE_OR_VIEW_NOT_FOUND" and _DESCRIBE.match(statement):
        message += _hive_table_not_found(exc)
    return KyuubiSQLError(message, exc.getSqlState() or GENERAL_SQL_STATE, error_class=error_class)


def _java_class(exc: PySparkException) -> str:
    origin: Any = getattr(exc, "_origin", None)
    if origin is not None:
        try:
            return str(origin.getClass().getName())
        except Exception:  # noqa: BLE001 - the JVM may be gone; the Python name will do
            pass
    return type(exc).__name__


def _hive_table_not_found(exc: PySparkException) -> str:
    """Hive's wording, which pyhive's SQLAlchemy ``has_table`` looks for (item 41)."""
    relation = (exc.getMessageParameters() or {}).get("relationName", "")
    return f"\nSemanticException [Error 10001]: Table not found {relation.replace('`', '')}"
