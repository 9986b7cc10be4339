"""Operation states and the legal moves between them, as one table (h11 style)."""

from __future__ import annotations

import enum

from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.protocol.tcli import ttypes

TState = ttypes.TOperationState


class OperationState(enum.Enum):
    INITIALIZED = TState.INITIALIZED_STATE
    PENDING = TState.PENDING_STATE
    RUNNING = TState.RUNNING_STATE
    FINISHED = TState.FINISHED_STATE
    CANCELED = TState.CANCELED_STATE
    CLOSED = TState.CLOSED_STATE
    ERROR = TState.ERROR_STATE
    TIMEDOUT = TState.TIMEDOUT_STATE

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    def to_thrift(self) -> int:
        # Superset stops polling on PENDING, so pollers only ever see RUNNING before the end.
        if self is OperationState.PENDING:
            return int(TState.RUNNING_STATE)
        return int(self.value)


TERMINAL_STATES = frozenset(
    {
        OperationState.FINISHED,
        OperationState.CANCELED,
        OperationState.CLOSED,
        OperationState.ERROR,
        OperationState.TIMEDOUT,
    }
)

_S = OperationState
_TRANSITIONS: dict[OperationState, frozenset[OperationState]] = {
    _S.INITIALIZED: frozenset(
        {_S.PENDING, _S.RUNNING, _S.FINISHED, _S.CANCELED, _S.CLOSED, _S.ERROR, _S.TIMEDOUT}
    ),
    _S.PENDING: frozenset({_S.RUNNING, _S.FINISHED, _S.CANCELED, _S.CLOSED, _S.ERROR, _S.TIMEDOUT}),
    _S.RUNNING: frozenset({_S.FINISHED, _S.CANCELED, _S.CLOSED, _S.ERROR, _S.TIMEDOUT}),
    _S.FINISHED: frozenset({_S.CLOSED}),
    _S.CANCELED: frozenset({_S.CLOSED}),
    _S.ERROR: frozenset({_S.CLOSED}),
    _S.TIMEDOUT: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
}


def can_transition(current: OperationState, new: OperationState) -> bool:
    return new in _TRANSITIONS[current]


def validate_transition(current: OperationState, new: OperationState) -> None:
    if not can_transition(current, new):
        raise KyuubiSQLError(
            f"Illegal operation state transition {current.name} -> {new.name}", "HY000"
        )
