"""Spark job progress in operation logs, and a safety net for cancellation.

One named thread polls Spark's status tracker for the job groups of running statements and
writes a line to an operation's log when one of its jobs makes progress (stage, tasks done,
running, failed), so ``FetchResults(fetchType=1)`` shows beeline and Superset what is going on.

It also re-cancels: ``cancelJobGroup`` only reaches jobs already submitted, so a job submitted a
moment after CancelOperation (or a timeout) would run to its end. While a cancelled or timed-out
operation is still inside Spark, its job group is cancelled again on every tick.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.engine.spark.conf import ENGINE_PROGRESS_INTERVAL
from kyuubi_py.operation.state import OperationState

if TYPE_CHECKING:
    from kyuubi_py.engine.spark.operation import SparkOperation

log = logging.getLogger(__name__)

#: Tick of the re-cancel check when progress logging is off.
_MIN_TICK_S = 1.0


def job_line(job: Any, stages: list[Any]) -> str:
    """``Spark job 3 RUNNING: stage 5 (collect at ...) 4/10 tasks done, 2 running``."""
    parts = [
        f"stage {s.stageId} ({s.name}) {s.numCompletedTasks}/{s.numTasks} tasks done, "
        f"{s.numActiveTasks} running" + (f", {s.numFailedTasks} failed" if s.numFailedTasks else "")
        for s in stages
    ]
    return f"Spark job {job.jobId} {job.status}: " + ("; ".join(parts) or "no stage yet")


class JobProgressMonitor:
    def __init__(self, spark: SparkSession, name: str = "kyuubi-spark-progress") -> None:
        self._spark = spark
        self._name = name
        self._watched: dict[str, SparkOperation] = {}
        self._last_lines: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_progress = True
        self._tick_s = _MIN_TICK_S

    def start(self, conf: KyuubiConf) -> None:
        interval = conf.get(ENGINE_PROGRESS_INTERVAL) or 0.0
        self._log_progress = interval > 0
        self._tick_s = interval if interval > 0 else _MIN_TICK_S
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def watch(self, operation: SparkOperation) -> None:
        with self._lock:
            self._watched[operation.job_group] = operation

    def _loop(self) -> None:
        while not self._stopping.wait(self._tick_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - e.g. the JVM is going away; try again later
                log.debug("Progress check failed", exc_info=True)

    def tick(self) -> None:
        with self._lock:
            watched = list(self._watched.values())
        for operation in watched:
            if operation.is_terminal:
                self._after_end(operation)
            elif self._log_progress and operation.in_spark:
                self._report(operation)

    def _after_end(self, operation: SparkOperation) -> None:
        if not operation.in_spark:
            self._forget(operation)
        elif operation.state is not OperationState.FINISHED:
            operation.interrupt_again()

    def _forget(self, operation: SparkOperation) -> None:
        with self._lock:
            self._watched.pop(operation.job_group, None)
            for key in [k for k in self._last_lines if k[0] == operation.job_group]:
                del self._last_lines[key]

    def _report(self, operation: SparkOperation) -> None:
        tracker = self._spark.sparkContext.statusTracker()
        for job_id in tracker.getJobIdsForGroup(operation.job_group):
            job = tracker.getJobInfo(job_id)
            if job is None:
                continue
            stages = [s for s in map(tracker.getStageInfo, job.stageIds) if s is not None]
            line = job_line(job, stages)
            key = (operation.job_group, int(job_id))
            if self._last_lines.get(key) != line:
                self._last_lines[key] = line
                operation.write_log(line)
