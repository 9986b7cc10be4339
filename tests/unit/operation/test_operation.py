"""The operation template: states, cancel, timeout, close, long poll, fetch cursor, logs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.operation.log import OperationLog
from kyuubi_py.operation.manager import (
    DeadlineScheduler,
    ExecPool,
    OperationManager,
    effective_query_timeout,
)
from kyuubi_py.operation.operation import Operation, RowCursor
from kyuubi_py.operation.state import OperationState, can_transition, validate_transition
from kyuubi_py.protocol.handles import SessionHandle
from kyuubi_py.protocol.tcli import V6, V10, ttypes
from kyuubi_py.service.backend import FetchedRows

pytestmark = pytest.mark.timeout(30)
S = OperationState
Fetch = ttypes.TFetchOrientation


class Parent:
    def __init__(self, protocol_version: int = V10) -> None:
        self.handle = SessionHandle()
        self.user = "alice"
        self.protocol_version = protocol_version


class GatedOperation(Operation):
    """Runs until ``gate`` is set; fails with ``fail`` if given."""

    def __init__(self, parent: Parent | None = None, **kwargs: object) -> None:
        super().__init__(parent or Parent(), ttypes.TOperationType.EXECUTE_STATEMENT, **kwargs)  # type: ignore[arg-type]
        self.gate = threading.Event()
        self.started = threading.Event()
        self.fail: Exception | None = None
        self.interrupted = 0
        self.released = 0

    def _execute(self) -> None:
        self.started.set()
        if not self.gate.wait(10):
            raise RuntimeError("gate never opened")
        if self.fail is not None:
            raise self.fail

    def _interrupt(self) -> None:
        self.interrupted += 1
        self.fail = RuntimeError("job cancelled")
        self.gate.set()

    def _release(self) -> None:
        self.released += 1

    def result_schema(self) -> ttypes.TTableSchema:
        return ttypes.TTableSchema(columns=[])

    def fetch(self, orientation: int, max_rows: int) -> FetchedRows:
        return FetchedRows(ttypes.TRowSet(startRowOffset=0, rows=[]))


@pytest.fixture
def manager() -> Iterator[OperationManager]:
    conf = KyuubiConf().set(keys.EXEC_POOL_SIZE.key, "2")
    manager = OperationManager()
    manager.initialize(conf)
    manager.start()
    yield manager
    manager.stop()


def run_sync(manager: OperationManager, op: GatedOperation) -> None:
    op.gate.set()
    manager.add(op)
    manager.run(op)


def test_sync_success_finishes_and_logs(manager: OperationManager) -> None:
    op = GatedOperation()
    run_sync(manager, op)
    assert op.state is S.FINISHED
    assert op.started_ms and op.completed_ms >= op.started_ms
    _, lines = op.operation_log.read(100)  # type: ignore[union-attr]
    assert any("INITIALIZED to RUNNING" in line for line in lines)
    assert any("RUNNING to FINISHED" in line for line in lines)


def test_sync_failure_raises_and_unregisters(manager: OperationManager) -> None:
    op = GatedOperation()
    op.fail = KyuubiSQLError("boom", "42P01", error_class="TABLE_OR_VIEW_NOT_FOUND")
    with pytest.raises(KyuubiSQLError) as info:
        run_sync(manager, op)
    assert info.value.sql_state == "42P01"
    assert op.state is S.CLOSED
    with pytest.raises(KyuubiSQLError, match="Invalid OperationHandle"):
        manager.get(op.handle)


def test_sync_unexpected_error_is_wrapped(manager: OperationManager) -> None:
    op = GatedOperation()
    op.fail = ValueError("bad")
    with pytest.raises(KyuubiSQLError, match="Error running query: ValueError: bad"):
        run_sync(manager, op)


def test_async_reports_running_then_finished(manager: OperationManager) -> None:
    op = GatedOperation(run_async=True)
    manager.add(op)
    manager.run(op)
    assert op.started.wait(5)
    status = op.status()
    assert status.state is S.RUNNING and status.wire_state == ttypes.TOperationState.RUNNING_STATE
    op.gate.set()
    assert op.wait_for_completion(5) is S.FINISHED
    assert op.status().wire_state == ttypes.TOperationState.FINISHED_STATE


def test_pending_is_reported_as_running() -> None:
    op = GatedOperation(run_async=True)
    op.run(lambda job: None)  # queued, never started
    status = op.status()
    assert status.state is S.PENDING
    assert status.wire_state == ttypes.TOperationState.RUNNING_STATE


def test_async_failure_surfaces_in_status(manager: OperationManager) -> None:
    op = GatedOperation(run_async=True)
    op.fail = KyuubiSQLError("no such table", "42P01")
    manager.add(op)
    manager.run(op)
    op.gate.set()
    assert op.wait_for_completion(5) is S.ERROR
    status = op.status()
    assert status.wire_state == ttypes.TOperationState.ERROR_STATE
    assert status.error_message == "no such table" and status.sql_state == "42P01"
    assert status.error_code == 0


def test_cancel_running_interrupts_and_wins(manager: OperationManager) -> None:
    op = GatedOperation(run_async=True)
    manager.add(op)
    manager.run(op)
    assert op.started.wait(5)
    op.cancel()
    assert op.wait_for_completion(5) is S.CANCELED
    time.sleep(0.05)  # the worker's "job cancelled" failure must not overwrite CANCELED
    assert op.state is S.CANCELED and op.interrupted == 1 and op.error is None
    op.cancel()  # terminal: nothing happens
    assert op.interrupted == 1


def test_cancel_before_start_skips_execution() -> None:
    op = GatedOperation(run_async=True)
    jobs: list[object] = []
    op.run(jobs.append)
    op.cancel()
    jobs[0]()  # type: ignore[operator]
    assert not op.started.is_set() and op.state is S.CANCELED


def test_query_timeout_by_protocol(manager: OperationManager) -> None:
    for protocol, wire in (
        (V10, ttypes.TOperationState.TIMEDOUT_STATE),
        (V6, ttypes.TOperationState.ERROR_STATE),
    ):
        op = GatedOperation(Parent(protocol), run_async=True, query_timeout_s=0.2)
        manager.add(op)
        manager.run(op)
        assert op.wait_for_completion(5) is S.TIMEDOUT
        status = op.status()
        assert status.wire_state == wire
        assert "timed out after 0.2 seconds" in (status.error_message or "")
        deadline = time.monotonic() + 5  # the interrupt follows the state change
        while op.interrupted == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert op.interrupted == 1


def test_sync_timeout_raises(manager: OperationManager) -> None:
    op = GatedOperation(query_timeout_s=0.2)
    manager.add(op)
    with pytest.raises(KyuubiSQLError, match="timed out"):
        manager.run(op)


def test_close_running_interrupts_and_releases(manager: OperationManager) -> None:
    op = GatedOperation(run_async=True)
    manager.add(op)
    manager.run(op)
    assert op.started.wait(5)
    manager.close(op.handle)
    assert op.state is S.CLOSED and op.interrupted == 1 and op.released == 1
    with pytest.raises(KyuubiSQLError, match="Invalid OperationHandle"):
        manager.close(op.handle)


def test_pool_full_rejects() -> None:
    pool = ExecPool(1, 1, name="test-pool")
    gate = threading.Event()
    try:
        pool.submit(lambda: gate.wait(5) and None)
        pool.submit(lambda: None)
        with pytest.raises(KyuubiSQLError, match="query rejected"):
            pool.submit(lambda: None)
    finally:
        gate.set()
        pool.shutdown(wait=True)


def test_rejected_async_operation_is_unregistered() -> None:
    conf = KyuubiConf()
    manager = OperationManager(pool_factory=lambda _conf: ExecPool(1, 0, "tiny"))
    manager.initialize(conf)
    manager.start()
    try:
        first, second = GatedOperation(run_async=True), GatedOperation(run_async=True)
        for op in (first, second):
            manager.add(op)
        manager.run(first)
        with pytest.raises(KyuubiSQLError, match="query rejected"):
            manager.run(second)
        assert manager.count == 1 and second.state is S.CLOSED
        first.gate.set()
    finally:
        manager.stop()


def test_wait_for_completion_long_polls() -> None:
    op = GatedOperation(run_async=True)
    op.run(lambda job: None)
    began = time.monotonic()
    assert op.wait_for_completion(0.3) is S.PENDING
    assert time.monotonic() - began >= 0.25
    op.cancel()
    began = time.monotonic()
    assert op.wait_for_completion(5) is S.CANCELED
    assert time.monotonic() - began < 0.1


def test_require_finished() -> None:
    op = GatedOperation(run_async=True)
    op.run(lambda job: None)
    with pytest.raises(KyuubiSQLError, match="Expected state FINISHED, but found PENDING"):
        op.require_finished(0.05)


def test_done_callbacks_run_once() -> None:
    op = GatedOperation()
    calls: list[S] = []
    op.add_done_callback(lambda o: calls.append(o.state))
    op.gate.set()
    op.run(lambda job: None)
    op.close()
    op.add_done_callback(lambda o: calls.append(o.state))
    assert calls == [S.FINISHED, S.CLOSED]


def test_fetch_log_columnar_and_row_based() -> None:
    for protocol in (V10, V6 - 1):
        op = GatedOperation(Parent(protocol))
        op.write_log("hello\nworld")
        fetched = op.fetch_log(Fetch.FETCH_NEXT, 10)
        assert isinstance(fetched, FetchedRows)
        rowset = fetched.rowset
        if protocol >= V6:
            assert rowset.rows == [] and len(rowset.columns) == 1
            assert [v.split(" INFO ")[1] for v in rowset.columns[0].stringVal.values] == [
                "hello",
                "world",
            ]
        else:
            assert len(rowset.rows) == 2 and rowset.columns is None
        again = op.fetch_log(Fetch.FETCH_NEXT, 10)
        assert isinstance(again, FetchedRows)
        empty = again.rowset
        assert (empty.columns[0].stringVal.values if protocol >= V6 else empty.rows) == []


def test_fetch_log_disabled_is_one_empty_column() -> None:
    op = GatedOperation(log_enabled=False)
    fetched = op.fetch_log(Fetch.FETCH_NEXT, 10)
    assert isinstance(fetched, FetchedRows)
    assert fetched.rowset.columns[0].stringVal.values == []


def test_operation_log_incremental_rewind_and_bound() -> None:
    oplog = OperationLog(max_lines=3)
    for i in range(2):
        oplog.write(f"line{i}")
    assert [s[-5:] for s in oplog.read(1)[1]] == ["line0"]
    assert [s[-5:] for s in oplog.read(10)[1]] == ["line1"]
    assert oplog.read(10)[1] == []
    for i in range(2, 5):
        oplog.write(f"line{i}")
    offset, lines = oplog.read(10)
    assert offset == 2 and [s[-5:] for s in lines] == ["line2", "line3", "line4"]
    offset, lines = oplog.read(10, from_start=True)
    assert offset == 2 and len(lines) == 3
    oplog.close()
    oplog.write("ignored")
    assert oplog.read(10)[1] == []


def test_row_cursor() -> None:
    cursor = RowCursor()
    assert cursor.window(Fetch.FETCH_NEXT, 4, 10) == (0, 4)
    assert cursor.window(Fetch.FETCH_NEXT, 4, 10) == (4, 8)
    assert cursor.window(Fetch.FETCH_PRIOR, 4, 10) == (0, 4)
    assert cursor.window(Fetch.FETCH_NEXT, 100, 10) == (4, 10)
    assert cursor.window(Fetch.FETCH_NEXT, 100, 10) == (10, 10)
    assert cursor.window(Fetch.FETCH_FIRST, 3, 10) == (0, 3)
    for orientation in (Fetch.FETCH_ABSOLUTE, Fetch.FETCH_RELATIVE, Fetch.FETCH_LAST):
        name = Fetch._VALUES_TO_NAMES[orientation]
        with pytest.raises(KyuubiSQLError) as info:
            cursor.window(orientation, 3, 10)
        assert info.value.message == (f"The fetch type {name} is not supported for this resultset")


def test_effective_query_timeout() -> None:
    assert effective_query_timeout(None, None) is None
    assert effective_query_timeout(0, None) is None
    assert effective_query_timeout(10, None) == 10
    assert effective_query_timeout(0, 30) == 30
    assert effective_query_timeout(10, 30) == 10
    assert effective_query_timeout(60, 30) == 30
    assert effective_query_timeout(-1, -1) is None


def test_state_table() -> None:
    assert can_transition(S.RUNNING, S.CANCELED)
    assert not can_transition(S.FINISHED, S.RUNNING)
    assert not can_transition(S.CLOSED, S.CLOSED)
    with pytest.raises(KyuubiSQLError, match="FINISHED -> ERROR"):
        validate_transition(S.FINISHED, S.ERROR)
    assert S.PENDING.to_thrift() == ttypes.TOperationState.RUNNING_STATE
    assert {s for s in S if s.is_terminal} == {
        S.FINISHED,
        S.CANCELED,
        S.CLOSED,
        S.ERROR,
        S.TIMEDOUT,
    }


def test_deadline_scheduler_runs_and_cancels() -> None:
    scheduler = DeadlineScheduler("test-deadlines")
    fired: list[str] = []
    done = threading.Event()
    try:
        cancel = scheduler.schedule(0.05, lambda: fired.append("cancelled"))
        scheduler.schedule(0.1, lambda: (fired.append("due"), done.set()))
        cancel()
        assert done.wait(5)
        assert fired == ["due"]
    finally:
        scheduler.stop()
