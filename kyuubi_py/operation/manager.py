"""The operation registry, the bounded exec pool and the query-timeout scheduler.

Handles are looked up by guid *and* secret (a handle is a dict key by both), so a guessed or
replayed public id finds nothing. Ownership (which caller may use an operation) is checked one
level up, through the operation's session, by :class:`~kyuubi_py.session.manager.SessionManager`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiError, KyuubiSQLError
from kyuubi_py.operation.operation import Clock, Operation
from kyuubi_py.operation.state import OperationState
from kyuubi_py.protocol.handles import OperationHandle
from kyuubi_py.service.lifecycle import Service

log = logging.getLogger(__name__)

#: SQL state of "the server is too busy" (insufficient resources).
REJECTED_SQL_STATE = "53000"


def effective_query_timeout(client_s: float | None, server_s: float | None) -> float | None:
    """The smaller positive one of the client's queryTimeout and the server's cap; ``None``
    when neither is set (0 or less means unset for both)."""
    limits = [t for t in (client_s, server_s) if t is not None and t > 0]
    return min(limits) if limits else None


class ExecPool:
    """A fixed set of named worker threads with a bounded wait queue: when ``size`` jobs run
    and ``queue_size`` wait, :meth:`submit` refuses instead of queueing without bound."""

    def __init__(self, size: int, queue_size: int, name: str = "kyuubi-exec") -> None:
        self.size = size
        self.queue_size = queue_size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._permits = threading.BoundedSemaphore(size + max(queue_size, 0))

    def submit(self, job: Callable[[], None]) -> None:
        if not self._permits.acquire(blocking=False):
            raise KyuubiSQLError(
                f"The exec pool is full ({self.size} running, {self.queue_size} waiting): "
                "query rejected",
                REJECTED_SQL_STATE,
            )
        try:
            self._executor.submit(self._run, job)
        except RuntimeError as exc:  # shut down
            self._permits.release()
            raise KyuubiSQLError(f"The exec pool is shut down: query rejected ({exc})") from exc

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - jobs handle their own errors; log what escapes
            log.exception("Job on the exec pool failed")
        finally:
            self._permits.release()

    def shutdown(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)


class DeadlineScheduler:
    """Runs callbacks at deadlines on one named thread (one thread for every query timeout,
    not a timer thread per statement). Callbacks must be quick."""

    def __init__(self, name: str = "kyuubi-deadlines") -> None:
        self._name = name
        self._heap: list[tuple[float, int]] = []
        self._tasks: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` after ``delay_s``; returns a function that cancels it."""
        task_id = next(self._ids)
        with self._cond:
            self._tasks[task_id] = callback
            heapq.heappush(self._heap, (time.monotonic() + delay_s, task_id))
            self._ensure_thread_locked()
            self._cond.notify()
        return lambda: self._cancel(task_id)

    def _cancel(self, task_id: int) -> None:
        with self._cond:
            self._tasks.pop(task_id, None)  # its heap entry is skipped when it comes up

    def _ensure_thread_locked(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _next_due(self) -> Callable[[], None] | None:
        """Wait for the next due callback; ``None`` once stopped."""
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, task_id = self._heap[0]
                if task_id not in self._tasks:
                    heapq.heappop(self._heap)
                    continue
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                return self._tasks.pop(task_id)
            return None

    def _loop(self) -> None:
        while (callback := self._next_due()) is not None:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one failing callback must not stop the others
                log.exception("Scheduled callback failed")

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._tasks.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


PoolFactory = Callable[[KyuubiConf], ExecPool]


def default_exec_pool(conf: KyuubiConf) -> ExecPool:
    size = conf.get(keys.EXEC_POOL_SIZE)
    return ExecPool(size, size)


class OperationManager(Service):
    """Registry of live operations; runs them and closes idle finished ones."""

    def __init__(
        self,
        pool_factory: PoolFactory = default_exec_pool,
        clock: Clock = time.monotonic,
        name: str = "OperationManager",
    ) -> None:
        super().__init__(name)
        self._pool_factory = pool_factory
        self._pool: ExecPool | None = None
        self._clock = clock
        self._scheduler = DeadlineScheduler(f"{name}-timeouts")
        self._operations: dict[OperationHandle, Operation] = {}
        self._lock = threading.Lock()
        self.query_timeout_s: float | None = None
        self.status_poll_timeout_s = 5.0
        self.idle_timeout_s = 0.0

    def initialize(self, conf: KyuubiConf) -> None:
        self.query_timeout_s = conf.get(keys.OPERATION_QUERY_TIMEOUT)
        self.status_poll_timeout_s = max(0.0, conf.get(keys.OPERATION_STATUS_POLLING_TIMEOUT) or 0)
        self.idle_timeout_s = conf.get(keys.OPERATION_IDLE_TIMEOUT) or 0.0
        super().initialize(conf)

    def start(self) -> None:
        self._pool = self._pool_factory(self.conf)
        super().start()

    def stop(self) -> None:
        for operation in self._take_all():
            _close_quietly(operation)
        self._scheduler.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        super().stop()

    @property
    def clock(self) -> Clock:
        return self._clock

    def effective_timeout(self, client_timeout_s: float | None) -> float | None:
        return effective_query_timeout(client_timeout_s, self.query_timeout_s)

    # -- registry ------------------------------------------------------------------------------
    def add(self, operation: Operation) -> None:
        with self._lock:
            self._operations[operation.handle] = operation

    def get(self, handle: OperationHandle) -> Operation:
        with self._lock:
            operation = self._operations.get(handle)
        if operation is None:
            raise KyuubiSQLError.invalid_handle("OperationHandle", handle)
        return operation

    def remove(self, handle: OperationHandle) -> Operation | None:
        with self._lock:
            return self._operations.pop(handle, None)

    def close(self, handle: OperationHandle) -> None:
        operation = self.remove(handle)
        if operation is None:
            raise KyuubiSQLError.invalid_handle("OperationHandle", handle)
        operation.close()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._operations)

    def _take_all(self) -> list[Operation]:
        with self._lock:
            taken = list(self._operations.values())
            self._operations.clear()
        return taken

    def idle_operations(self, now: float) -> list[Operation]:
        """Terminal operations nobody touched for ``kyuubi.operation.idle.timeout``."""
        if self.idle_timeout_s <= 0:
            return []
        with self._lock:
            candidates = list(self._operations.values())
        return [o for o in candidates if o.is_terminal and o.idle_for(now) > self.idle_timeout_s]

    # -- running -------------------------------------------------------------------------------
    def run(self, operation: Operation) -> None:
        """Arm the query timeout and run; a sync operation that did not finish is removed and
        its error raised, so ExecuteStatement fails without returning a handle (STS)."""
        if self._pool is None:
            raise KyuubiSQLError(f"{self.name} is not started")
        timeout = operation.query_timeout_s
        if timeout is not None and timeout > 0:
            cancel = self._scheduler.schedule(timeout, operation.timeout)
            operation.add_done_callback(lambda _operation: cancel())
        try:
            operation.run(self._pool.submit)
        except KyuubiError:
            self._discard(operation)
            raise
        if not operation.run_async and operation.state is not OperationState.FINISHED:
            error = operation.failure()
            self._discard(operation)
            raise error

    def _discard(self, operation: Operation) -> None:
        self.remove(operation.handle)
        _close_quietly(operation)


def _close_quietly(operation: Operation) -> None:
    try:
        operation.close()
    except Exception:  # noqa: BLE001 - closing everything at shutdown must go on
        log.exception("Error closing %r", operation)
