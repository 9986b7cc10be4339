"""SessionManager: handle checks, ownership, per-connection cleanup, idle logic (fake clock)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.operation.operation import Operation
from kyuubi_py.operation.state import OperationState
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.tcli import V10, ttypes
from kyuubi_py.service.backend import Caller, FetchedRows
from kyuubi_py.session.manager import SessionManager
from kyuubi_py.session.session import Session, session_user

pytestmark = pytest.mark.timeout(30)

ALICE = Caller(1, "alice", "10.0.0.1")
ALICE_OTHER_CONN = Caller(2, "alice", "10.0.0.2")
BOB = Caller(3, "bob", "10.0.0.3")
NOSASL = Caller(4, None, "10.0.0.4", "NOSASL")
NOSASL_OTHER = Caller(5, None, "10.0.0.5", "NOSASL")
HTTP_ALICE = Caller(6, "alice", "10.0.0.6", "HTTP")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSession(Session):
    closed = 0

    def close(self) -> None:
        self.closed += 1


class Work(Operation):
    def __init__(self, session: Session, clock: FakeClock, run_async: bool = False) -> None:
        super().__init__(
            session, ttypes.TOperationType.EXECUTE_STATEMENT, run_async=run_async, clock=clock
        )
        self.gate = threading.Event()
        self.closed = False

    def _execute(self) -> None:
        if self.run_async:
            self.gate.wait(10)

    def _release(self) -> None:
        self.closed = True

    def result_schema(self) -> ttypes.TTableSchema:
        return ttypes.TTableSchema(columns=[])

    def fetch(self, orientation: int, max_rows: int) -> FetchedRows:
        return FetchedRows(ttypes.TRowSet(startRowOffset=0, rows=[]))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def manager(clock: FakeClock) -> Iterator[SessionManager[RecordingSession]]:
    conf = KyuubiConf(
        {
            "kyuubi.session.idle.timeout": "PT60S",
            "kyuubi.operation.idle.timeout": "PT30S",
            "kyuubi.session.check.interval": "PT1H",
        }
    )
    manager: SessionManager[RecordingSession] = SessionManager(clock=clock)
    manager.initialize(conf)
    manager.start()
    yield manager
    manager.stop()


def open_for(
    manager: SessionManager[RecordingSession], caller: Caller, clock: FakeClock
) -> RecordingSession:
    return manager.open_session(
        caller, lambda h: RecordingSession(h, caller, session_user(caller, None), V10, {}, clock)
    )


def invalid_message(kind: str, handle: object) -> str:
    return f"Invalid {kind}: {handle}"


def test_session_user_prefers_authenticated_identity() -> None:
    assert session_user(ALICE, "os-user") == "alice"
    assert session_user(NOSASL, "carol") == "carol"
    assert session_user(NOSASL, " ") == "anonymous"


def test_owner_and_handle_checks(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    session = open_for(manager, ALICE, clock)
    assert manager.get_session(ALICE, session.handle) is session
    assert manager.get_session(ALICE_OTHER_CONN, session.handle) is session  # same user
    messages = set()
    for caller, handle in (
        (BOB, session.handle),
        (NOSASL, session.handle),
        (ALICE, SessionHandle(session.handle.guid, b"x" * 16)),
        (ALICE, SessionHandle(session.handle.guid, b"")),
    ):
        with pytest.raises(KyuubiSQLError) as info:
            manager.get_session(caller, handle)
        messages.add(info.value.message)
    assert messages == {invalid_message("SessionHandle", session.handle)}
    unknown = SessionHandle()
    with pytest.raises(KyuubiSQLError, match=invalid_message("SessionHandle", unknown)):
        manager.close_session(ALICE, unknown)


def test_nosasl_sessions_belong_to_their_connection(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    session = open_for(manager, NOSASL, clock)
    assert manager.get_session(NOSASL, session.handle) is session
    for caller in (NOSASL_OTHER, ALICE):
        with pytest.raises(KyuubiSQLError, match="Invalid SessionHandle"):
            manager.get_session(caller, session.handle)


def test_close_session_closes_operations(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    session = open_for(manager, ALICE, clock)
    op = Work(session, clock)
    manager.submit(session, op)
    manager.close_session(ALICE, session.handle)
    assert session.closed == 1 and op.closed and op.state is OperationState.CLOSED
    with pytest.raises(KyuubiSQLError, match="Invalid OperationHandle"):
        manager.get_operation(ALICE, op.handle)
    assert manager.operations.count == 0 and manager.session_count == 0


def test_operation_ownership_goes_through_session(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    session = open_for(manager, ALICE, clock)
    op = manager.submit(session, Work(session, clock))
    assert manager.get_operation(ALICE_OTHER_CONN, op.handle) is op
    forged = OperationHandle(op.handle.guid, b"y" * 16)
    for caller, handle in ((BOB, op.handle), (NOSASL, op.handle), (ALICE, forged)):
        with pytest.raises(KyuubiSQLError) as info:
            manager.get_operation(caller, handle)
        assert info.value.message == invalid_message("OperationHandle", op.handle)
    with pytest.raises(KyuubiSQLError, match="Invalid OperationHandle"):
        manager.close_operation(BOB, op.handle)
    manager.close_operation(ALICE, op.handle)
    assert session.operation_handles() == []


def test_connection_closed_closes_only_that_connections_sessions(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    first = open_for(manager, ALICE, clock)
    other = open_for(manager, ALICE_OTHER_CONN, clock)
    http = open_for(manager, HTTP_ALICE, clock)
    manager.connection_closed(ALICE)
    manager.connection_closed(HTTP_ALICE)  # HTTP: one request per connection, session lives
    assert first.closed == 1 and other.closed == 0 and http.closed == 0
    assert manager.session_count == 2


def test_idle_operations_close_first_and_running_work_keeps_session(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    session = open_for(manager, ALICE, clock)
    finished = manager.submit(session, Work(session, clock))
    running = Work(session, clock, run_async=True)
    manager.submit(session, running)
    clock.now += 31
    manager.check_idle()
    assert finished.state is OperationState.CLOSED
    assert running.state is not OperationState.CLOSED
    clock.now += 100
    manager.check_idle()
    assert session.closed == 0, "a session with a running operation is never idled out"
    running.gate.set()
    assert running.wait_for_completion(5) is OperationState.FINISHED
    manager.check_idle()
    assert session.closed == 1 and running.state is OperationState.CLOSED


def test_access_resets_idle_time(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    session = open_for(manager, ALICE, clock)
    clock.now += 50
    manager.get_session(ALICE, session.handle)
    clock.now += 50
    manager.check_idle()
    assert session.closed == 0
    clock.now += 11
    manager.check_idle()
    assert session.closed == 1


def test_idle_since_tracks_session_count(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    assert manager.idle_since() == clock.now
    session = open_for(manager, ALICE, clock)
    assert manager.idle_since() is None
    clock.now += 5
    manager.close_session(ALICE, session.handle)
    assert manager.idle_since() == clock.now


def test_failed_open_is_not_registered(
    manager: SessionManager[RecordingSession], clock: FakeClock
) -> None:
    class Refusing(RecordingSession):
        def open(self) -> None:
            raise KyuubiSQLError("bad database", "3F000")

    created: list[Refusing] = []

    def create(handle: SessionHandle) -> Refusing:
        created.append(Refusing(handle, ALICE, "alice", V10, {}, clock))
        return created[0]

    with pytest.raises(KyuubiSQLError, match="bad database"):
        manager.open_session(ALICE, create)
    assert manager.session_count == 0 and created[0].closed == 1


def test_checker_thread_runs(clock: FakeClock) -> None:
    conf = KyuubiConf(
        {"kyuubi.session.idle.timeout": "PT1S", "kyuubi.session.check.interval": "50"}
    )
    manager: SessionManager[RecordingSession] = SessionManager(clock=clock)
    manager.initialize(conf)
    manager.start()
    try:
        session = open_for(manager, ALICE, clock)
        assert any(t.name == "SessionManager-idle-checker" for t in threading.enumerate())
        clock.now += 2
        for _ in range(100):
            if session.closed:
                break
            threading.Event().wait(0.05)
        assert session.closed == 1
    finally:
        manager.stop()
