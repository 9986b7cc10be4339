"""Warming a new engine up while it starts serving, so a new user's first query is not its
slowest: ``kyuubi.engine.initialize.sql`` and the result encoder.

A fresh engine's first query pays for the JVM loading Catalyst, Janino compiling generated code,
Arrow initializing its allocator, and our encoder's first pass through pyarrow: well over a
second. :class:`EngineInitializer` runs the statements on a background thread from the moment
the engine starts, so that cost overlaps the engine registering in ZooKeeper and the gateway
connecting, instead of following them. Sessions open only once the statements are done (Kyuubi's
"before queries"), so a statement with side effects (a function, a global temporary view) is
always in place for the first client. When no statement needed a Spark job (constants are
answered on the driver), a small job runs afterwards, in the background, without holding
sessions back. :func:`warm_up_encoding` needs no Spark: the engine's
main thread runs it while the JVM is still building the SparkContext.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import threading
import time

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from kyuubi_py.engine.spark.local_result import local_batches
from kyuubi_py.engine.spark.operation import collectable, job_batches
from kyuubi_py.engine.spark.results import ArrowResult, PageEncoder
from kyuubi_py.engine.spark.session import session_time_zone
from kyuubi_py.operation.operation import Orientation
from kyuubi_py.protocol.tcli import SERVER_MAX_PROTOCOL, V6

log = logging.getLogger(__name__)

#: Rows of each statement's result encoded, as a client's first fetch would.
_FETCH_ROWS = 1000

#: A query that needs a Spark job (Catalyst, Janino, the scheduler, Arrow in a task).
_JOB_WARM_UP = "SELECT id, CAST(id AS STRING) AS s, id / 3 AS d FROM range(1)"

#: A column of each common type, as ``_collect_as_arrow`` hands it over (UTC session).
_SAMPLE_COLUMNS: list[tuple[DataType, pa.Array]] = [
    (IntegerType(), pa.array([1, None], pa.int32())),
    (LongType(), pa.array([2, None], pa.int64())),
    (DoubleType(), pa.array([0.5, None], pa.float64())),
    (StringType(), pa.array(["a", None], pa.string())),
    (BooleanType(), pa.array([True, None], pa.bool_())),
    (DateType(), pa.array([datetime.date(2024, 1, 2), None], pa.date32())),
    (
        TimestampType(),
        pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5), None], pa.timestamp("us", "UTC")),
    ),
    (DecimalType(10, 2), pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2))),
]


def split_statements(text: str | None) -> list[str]:
    """The non-empty statements of a semicolon-separated list (no quoting, as in Kyuubi)."""
    return [part.strip() for part in (text or "").split(";") if part.strip()]


def warm_up_encoding() -> None:
    """Encode a two-row page of each common column type, columnar and row-based: the first
    pass loads pyarrow's compute kernels and our lazily built tables."""
    schema = StructType(
        [StructField(f"c{i}", dt, True) for i, (dt, _) in enumerate(_SAMPLE_COLUMNS)]
    )
    arrays = [array for _, array in _SAMPLE_COLUMNS]
    try:
        for protocol in (SERVER_MAX_PROTOCOL, V6):
            PageEncoder(schema, protocol, "UTC").encode(arrays, 0)
    except Exception:  # noqa: BLE001 - only a warm-up: the real first query reports errors
        log.warning("Warming up the result encoder failed", exc_info=True)


class EngineInitializer:
    """Runs the statements once, in the background; :meth:`wait` blocks until they are done."""

    def __init__(self, spark: SparkSession, statements: list[str]) -> None:
        self._spark = spark
        self._statements = statements
        self._done = threading.Event()
        self._ran_job = False
        if not statements:
            self._done.set()

    def start(self) -> None:
        if self._done.is_set():
            return
        threading.Thread(target=self._run, name="kyuubi-engine-initialize", daemon=True).start()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._done.wait(timeout_s)

    def _run(self) -> None:
        try:
            for statement in self._statements:
                self._run_one(statement)
        finally:
            self._done.set()
        if not self._ran_job:
            self._warm_up_spark_jobs()

    def _run_one(self, statement: str) -> None:
        started = time.monotonic()
        try:
            df = self._spark.sql(statement)  # commands (no output columns) run right here
            if df.schema.fields:
                time_zone = session_time_zone(self._spark)
                encoder = PageEncoder(df.schema, SERVER_MAX_PROTOCOL, time_zone)
                wire_df = collectable(df)  # the collect path of a client's query
                batches = local_batches(wire_df, time_zone)
                if batches is None:
                    batches = job_batches(wire_df)
                    self._ran_job = True
                result = ArrowResult(encoder, batches)
                result.thrift_schema()
                result.fetch(Orientation.FETCH_NEXT, _FETCH_ROWS)
            log.info(
                "Initialization statement done in %.2f s: %s", time.monotonic() - started, statement
            )
        except Exception as exc:  # noqa: BLE001 - the engine serves anyway; the reason is logged
            log.error(
                "Initialization statement failed (kyuubi.engine.initialize.sql): %s: %s",
                statement,
                str(exc).split("\n", 1)[0],
            )

    def _warm_up_spark_jobs(self) -> None:
        """Statements answered on the driver (the default ``SELECT 1``) leave the Spark job path
        cold; one small job, after sessions may open, takes its first-use cost off the first
        client query that needs a job."""
        started = time.monotonic()
        try:
            job_batches(collectable(self._spark.sql(_JOB_WARM_UP)))
        except Exception:  # noqa: BLE001 - only a warm-up: the real first query reports errors
            log.warning("Warming up the Spark job path failed", exc_info=True)
            return
        log.info("Spark job path warmed up in %.2f s", time.monotonic() - started)
