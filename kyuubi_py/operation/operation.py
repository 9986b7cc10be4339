"""The operation template shared by the engine and the gateway.

An :class:`Operation` runs its work (:meth:`Operation._execute`) either on the caller's thread
(``runAsync=false``: ExecuteStatement returns when the statement is done) or on the bounded exec
pool, and moves through the states of :mod:`kyuubi_py.operation.state`. Cancel, query timeout and
close can arrive from other threads at any time: the first terminal state wins, and the work,
when it finally returns or fails, cannot overwrite it. Subclasses interrupt the running work in
:meth:`Operation._interrupt` (Spark: cancel the job group) and free results in
:meth:`Operation._release`.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from kyuubi_py.errors import KyuubiError, KyuubiSQLError
from kyuubi_py.operation.log import OperationLog
from kyuubi_py.operation.state import OperationState, validate_transition
from kyuubi_py.protocol import value_rowset
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.status import GENERAL_SQL_STATE
from kyuubi_py.protocol.tcli import V6, V10, ttypes
from kyuubi_py.service.backend import FetchedRows, OperationStatus, Relayed

log = logging.getLogger(__name__)

Clock = Callable[[], float]
#: Hands a job to the exec pool; raises :class:`KyuubiSQLError` when the pool is full.
Submit = Callable[[Callable[[], None]], None]

_S = OperationState
Orientation = ttypes.TFetchOrientation
#: SQL state of a statement that ran out of time (ODBC "timeout expired").
TIMEOUT_SQL_STATE = "HYT00"


class OperationParent(Protocol):
    """What an operation needs from its session."""

    @property
    def handle(self) -> SessionHandle: ...

    @property
    def user(self) -> str: ...

    @property
    def protocol_version(self) -> int: ...


def now_ms() -> int:
    return int(time.time() * 1000)


def orientation_name(orientation: int) -> str:
    name: str = Orientation._VALUES_TO_NAMES.get(orientation, str(orientation))
    return name


def unsupported_orientation(orientation: int) -> KyuubiSQLError:
    return KyuubiSQLError(
        f"The fetch type {orientation_name(orientation)} is not supported for this resultset",
        "HY106",
    )


class RowCursor:
    """Where the next fetch of an in-memory result starts (Kyuubi's FetchIterator semantics):
    NEXT continues, FIRST rewinds to row 0, PRIOR re-reads the ``max_rows`` rows before the
    last fetch; other orientations are refused."""

    def __init__(self) -> None:
        self.fetch_start = 0
        self.position = 0

    def window(self, orientation: int, max_rows: int, total: int) -> tuple[int, int]:
        """``(start, end)`` of the rows to return, advancing the cursor past them."""
        if orientation == Orientation.FETCH_FIRST:
            self.position = 0
        elif orientation == Orientation.FETCH_PRIOR:
            self.position = max(self.fetch_start - max(max_rows, 0), 0)
        elif orientation != Orientation.FETCH_NEXT:
            raise unsupported_orientation(orientation)
        start = min(self.position, total)
        end = min(start + max(max_rows, 0), total)
        self.fetch_start, self.position = start, end
        return start, end


class Operation(abc.ABC):
    """One client operation. Thread-safe; subclasses implement :meth:`_execute`,
    :meth:`result_schema` and :meth:`_fetch`."""

    def __init__(
        self,
        session: OperationParent,
        operation_type: int,
        *,
        statement: str = "",
        run_async: bool = False,
        query_timeout_s: float | None = None,
        has_result_set: bool = True,
        log_enabled: bool = True,
        clock: Clock = time.monotonic,
    ) -> None:
        self.session = session
        self.handle = OperationHandle(operation_type=operation_type, has_result_set=has_result_set)
        self.statement = statement
        self.run_async = run_async
        self.query_timeout_s = query_timeout_s
        self.operation_log = OperationLog() if log_enabled else None
        self._clock = clock
        self.last_access = clock()
        self.created_ms = now_ms()
        self.started_ms = 0
        self.completed_ms = 0
        self.error: KyuubiSQLError | None = None
        self._state = _S.INITIALIZED
        self._cond = threading.Condition()
        self._done_callbacks: list[Callable[[Operation], None]] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.handle.public_id}, {self._state.name})"

    # -- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> OperationState:
        with self._cond:
            return self._state

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def touch(self) -> None:
        self.last_access = self._clock()

    def idle_for(self, now: float) -> float:
        return now - self.last_access

    def write_log(self, message: str, level: str = "INFO") -> None:
        if self.operation_log is not None:
            self.operation_log.write(message, level)

    def add_done_callback(self, callback: Callable[[Operation], None]) -> None:
        """Call ``callback(self)`` once the operation is terminal (at once if it already is)."""
        with self._cond:
            if not self._state.is_terminal:
                self._done_callbacks.append(callback)
                return
        callback(self)

    def _set_state(self, new: OperationState, error: KyuubiSQLError | None = None) -> bool:
        """Move to ``new``; ``False`` when another thread already ended the operation."""
        with self._cond:
            old = self._state
            if old.is_terminal and not (new is _S.CLOSED and old is not _S.CLOSED):
                return False
            validate_transition(old, new)
            self._state = new
            if error is not None:
                self.error = error
            callbacks = self._on_terminal_locked() if new.is_terminal else []
            self._cond.notify_all()
        self.write_log(f"Operation state changed from {old.name} to {new.name}")
        for callback in callbacks:
            _run_callback(callback, self)
        return True

    def _on_terminal_locked(self) -> list[Callable[[Operation], None]]:
        if not self.completed_ms:
            self.completed_ms = now_ms()
        callbacks, self._done_callbacks = self._done_callbacks, []
        return callbacks

    def wait_for_completion(self, timeout_s: float) -> OperationState:
        """Block up to ``timeout_s`` while the operation is not terminal; its state then."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while not self._state.is_terminal:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._state

    # -- running -------------------------------------------------------------------------------
    def run(self, submit: Submit) -> None:
        """Run now on this thread (sync), or queue on the exec pool (async)."""
        if not self.run_async:
            self._run_guarded()
            return
        self._set_state(_S.PENDING)
        try:
            submit(self._run_guarded)
        except KyuubiError as exc:
            self._set_state(_S.ERROR, _as_sql_error(exc))
            raise

    def _run_guarded(self) -> None:
        self.started_ms = now_ms()
        if not self._set_state(_S.RUNNING):
            return  # canceled, timed out or closed while it waited in the queue
        try:
            self._execute()
        except Exception as exc:  # noqa: BLE001 - every failure becomes the operation's error
            self._fail(exc)
        else:
            self._set_state(_S.FINISHED)

    def _fail(self, exc: Exception) -> None:
        if self.is_terminal:
            log.debug(
                "%r ended while running; ignoring %s: %s",
                self,
                type(exc).__name__,
                _first_line(str(exc)),
            )
            return
        error = self._to_sql_error(exc)
        if self._set_state(_S.ERROR, error):
            self.write_log(f"Error: {error.message}", "ERROR")
            log.info("Operation %s failed: %s", self.handle.public_id, _first_line(error.message))

    def _to_sql_error(self, exc: Exception) -> KyuubiSQLError:
        """The client-facing error for a failure of :meth:`_execute`; subclasses add detail."""
        return _as_sql_error(exc)

    def failure(self) -> KyuubiSQLError:
        """Why a sync run did not finish, as the error ExecuteStatement returns."""
        state = self.state
        if self.error is not None:
            return self.error
        if state is _S.CANCELED:
            return KyuubiSQLError("Query was cancelled", "01000")
        return KyuubiSQLError(f"Operation ended in state {state.name}", GENERAL_SQL_STATE)

    def cancel(self) -> None:
        """Stop the work; a terminal operation is left as it is (Kyuubi semantics)."""
        if self._set_state(_S.CANCELED):
            log.info("Operation %s canceled", self.handle.public_id)
            self._interrupt()

    def timeout(self) -> None:
        seconds = self.query_timeout_s or 0
        error = KyuubiSQLError(
            f"Timeout: query timed out after {seconds:g} seconds", TIMEOUT_SQL_STATE
        )
        if self._set_state(_S.TIMEDOUT, error):
            log.info("Operation %s timed out after %gs", self.handle.public_id, seconds)
            self._interrupt()

    def close(self) -> None:
        was_running = not self.is_terminal
        if not self._set_state(_S.CLOSED):
            return
        if was_running:
            self._interrupt()
        try:
            self._release()
        finally:
            if self.operation_log is not None:
                self.operation_log.close()

    @abc.abstractmethod
    def _execute(self) -> None:
        """Do the work; raise on failure. Runs on the caller's thread or an exec pool thread."""

    def _interrupt(self) -> None:  # noqa: B027 - optional hook
        """Stop running work (cancel, timeout, close). Runs on another thread."""

    def _release(self) -> None:  # noqa: B027 - optional hook
        """Free results and resources once closed."""

    # -- status and results --------------------------------------------------------------------
    def status(self) -> OperationStatus:
        with self._cond:
            state, error = self._state, self.error
        wire = state.to_thrift()
        if state is _S.TIMEDOUT and self.session.protocol_version < V10:
            wire = ttypes.TOperationState.ERROR_STATE  # impyla & old JDBC do not know TIMEDOUT
        return OperationStatus(
            state=state,
            wire_state=wire,
            has_result_set=self.handle.has_result_set,
            error_message=error.message if error else None,
            sql_state=(error.sql_state or GENERAL_SQL_STATE) if error else None,
            error_code=error.error_code if error else None,
            started_ms=self.started_ms,
            completed_ms=self.completed_ms,
            num_modified_rows=self.num_modified_rows(),
            progress=self.progress(),
        )

    def num_modified_rows(self) -> int | None:
        return None

    def progress(self) -> ttypes.TProgressUpdateResp | None:
        return None

    def require_finished(self, wait_s: float) -> None:
        """Wait up to ``wait_s`` for the results; error unless the operation FINISHED."""
        state = self.wait_for_completion(wait_s)
        if state is not _S.FINISHED:
            raise KyuubiSQLError(f"Expected state FINISHED, but found {state.name}", "HY010")

    @abc.abstractmethod
    def result_schema(self) -> ttypes.TTableSchema:
        """The result set's schema; called only once FINISHED."""

    @abc.abstractmethod
    def fetch(self, orientation: int, max_rows: int) -> FetchedRows | Relayed:
        """The next rows; called only once FINISHED."""

    def fetch_log(self, orientation: int, max_rows: int) -> FetchedRows | Relayed:
        """The operation log as a one-string-column rowset; allowed in every state."""
        if self.operation_log is None:
            return FetchedRows(log_rowset([], 0, self.session.protocol_version))
        first = orientation == Orientation.FETCH_FIRST
        offset, lines = self.operation_log.read(max(max_rows, 0), from_start=first)
        return FetchedRows(log_rowset(lines, offset, self.session.protocol_version))


def log_rowset(lines: list[str], offset: int, protocol_version: int) -> ttypes.TRowSet:
    """Exactly one string column (STS: nulls ``00``), row-based for pre-V6 sessions."""
    if protocol_version < V6:
        return value_rowset.rowbased_rowset_from_pylists(
            [(value_rowset.ColumnKind.STRING, lines)], offset
        )
    return value_rowset.log_rowset(lines, offset)


def _as_sql_error(exc: BaseException) -> KyuubiSQLError:
    if isinstance(exc, KyuubiSQLError):
        return exc
    if isinstance(exc, KyuubiError):
        return KyuubiSQLError(str(exc), GENERAL_SQL_STATE)
    return KyuubiSQLError(f"Error running query: {type(exc).__name__}: {exc}", GENERAL_SQL_STATE)


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def _run_callback(callback: Callable[[Operation], None], operation: Operation) -> None:
    try:
        callback(operation)
    except Exception:  # noqa: BLE001 - a bad callback must not break the state machine
        log.exception("Done callback of %r failed", operation)
