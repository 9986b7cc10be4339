"""Results the driver already holds, turned into Arrow record batches without a Spark job.

``DataFrame._collect_as_arrow()`` always runs a Spark job: scheduling, task (de)serialisation and
result shipping cost about 10 ms on a 2-core machine, several times the rest of a small statement.
Many statements need no job at all, because their optimised plan is data on the driver:

- constants: ``SELECT 1`` (the validation query of JDBC pools and SQLAlchemy's ``pool_pre_ping``),
  ``SELECT current_database()``, ``SELECT version()``: a ``Project`` of literals over
  ``OneRowRelation``;
- ``VALUES`` lists (``LocalRelation``), including projections Spark folded into one;
- commands, which ran when ``spark.sql`` was called: SHOW, DESCRIBE, SET (``CommandResult``),
  and projections of their columns (the Hive layout of SHOW TABLES).

For those plans the rows are evaluated on the driver and converted by Spark's own
``ArrowConverters`` (the way Spark Connect serves a ``LocalTableScanExec``), with the same schema,
time zone and string width as the job path, so the batches carry the same values and types.

Any other plan, or any failure of this path, answers ``None`` and the caller runs the job: these
plans have no side effects left to run, so evaluating them twice is harmless.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
from py4j.protocol import Py4JError  # type: ignore[import-untyped]
from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

#: Rows per Arrow batch (Spark's default for Arrow collect) and the estimated size at which Spark
#: starts a new batch (Spark Connect's default): each batch crosses py4j as one byte array, so
#: a large command output (SHOW PARTITIONS of a big table) never makes one huge py4j message.
_MAX_RECORDS_PER_BATCH = 10_000
_MAX_BATCH_BYTES = 4 << 20

#: Projection items the driver can evaluate with no context: constants the optimizer folded, and
#: columns of the child (possibly renamed).
_EVALUABLE_ALIASED = frozenset({"Literal", "AttributeReference"})


def large_var_types(df: DataFrame) -> bool:
    """Whether Spark writes strings and binaries of ``df`` as Arrow's 64-bit-offset types."""
    value = df.sparkSession.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")
    return str(value).lower() == "true"


def local_batches(df: DataFrame, time_zone: str) -> list[pa.RecordBatch] | None:
    """All rows of ``df`` as Arrow batches when its plan is data on the driver, else ``None``."""
    jdf: Any = df._jdf
    try:
        plan = jdf.queryExecution().optimizedPlan()
        catalyst = _Catalyst.of(df.sparkSession.sparkContext._jvm)
        rows = catalyst.driver_rows(plan)
        if rows is None:
            return None
        streams = catalyst.arrow_converters.toBatchWithSchemaIterator(
            rows,
            jdf.schema(),
            _MAX_RECORDS_PER_BATCH,
            _MAX_BATCH_BYTES,
            time_zone,
            False,  # duplicate column names are fine in a SQL result, as in the job path
            large_var_types(df),
        )
        batches: list[pa.RecordBatch] = []
        while streams.hasNext():
            batches.extend(pa.ipc.open_stream(streams.next()).read_all().to_batches())
    except Py4JError:
        log.debug(
            "Evaluating a local plan on the driver failed; running a Spark job", exc_info=True
        )
        return None
    return [batch for batch in batches if batch.num_rows]


class _Catalyst:
    """The JVM classes this path calls, resolved once per JVM: py4j resolves ``jvm.a.b.C`` with
    one round trip per name segment, which would cost more than the rest of a ``SELECT 1``."""

    _cache: dict[int, _Catalyst] = {}

    def __init__(self, jvm: Any) -> None:
        expressions = jvm.org.apache.spark.sql.catalyst.expressions
        self.attribute_seq = getattr(expressions, "package$AttributeSeq")
        self.bind_references = expressions.BindReferences.bindReferences
        self.interpreted_projection = expressions.InterpretedUnsafeProjection.createProjection
        self.single_row_iterator = jvm.scala.collection.Iterator.single
        self.empty_row = jvm.org.apache.spark.sql.catalyst.InternalRow.empty()
        arrow = jvm.org.apache.spark.sql.execution.arrow
        self.arrow_converters = getattr(getattr(arrow, "ArrowConverters$"), "MODULE$")

    @classmethod
    def of(cls, jvm: Any) -> _Catalyst:
        catalyst = cls._cache.get(id(jvm))
        if catalyst is None:
            catalyst = cls._cache[id(jvm)] = cls(jvm)
        return catalyst

    def driver_rows(self, plan: Any) -> Any:
        """A Scala iterator over ``plan``'s rows when the driver holds them, else ``None``."""
        if plan.nodeName() != "Project":
            return self._leaf_rows(plan)
        child = plan.child()
        rows = self._leaf_rows(child)
        columns = plan.projectList()
        if rows is None or not all(_evaluable(columns.apply(i)) for i in range(columns.size())):
            return None
        bound = self.bind_references(columns, self.attribute_seq(child.output()))
        # Interpreted: a generated projection would cost a compilation for a handful of rows.
        # Each projected row is written to Arrow before the next one overwrites the buffer.
        return rows.map(self.interpreted_projection(bound))

    def _leaf_rows(self, plan: Any) -> Any:
        kind = plan.nodeName()
        if kind == "LocalRelation" and not plan.isStreaming():
            return plan.data().iterator()
        if kind == "CommandResult":
            return plan.rows().iterator()
        if kind == "OneRowRelation":
            return self.single_row_iterator(self.empty_row)
        return None


def _evaluable(column: Any) -> bool:
    kind = str(column.nodeName())
    if kind == "Alias":
        return str(column.child().nodeName()) in _EVALUABLE_ALIASED
    return kind == "AttributeReference"
