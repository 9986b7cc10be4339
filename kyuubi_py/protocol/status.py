"""Conversion between errors and ``TStatus``: the frontend's one error adapter uses these, and the
gateway turns an engine's error status back into the same :class:`KyuubiSQLError`."""

from __future__ import annotations

from kyuubi_py.errors import KyuubiError, KyuubiSQLError
from kyuubi_py.protocol.tcli import ttypes

_OK = ttypes.TStatusCode.SUCCESS_STATUS
_ERROR = ttypes.TStatusCode.ERROR_STATUS

#: SQL state for errors that have none of their own (Hive/STS use HY000 as "general error").
GENERAL_SQL_STATE = "HY000"


def ok_status() -> ttypes.TStatus:
    # Always SUCCESS (0), never SUCCESS_WITH_INFO: pyhive raises on anything but 0.
    return ttypes.TStatus(statusCode=_OK)


def error_status(error: BaseException) -> ttypes.TStatus:
    """An ERROR status carrying the message, SQL state and error code of ``error``.

    ``infoMessages`` is left unset on purpose: Hive JDBC parses it as a Java stack trace and
    breaks on anything else.
    """
    if isinstance(error, KyuubiSQLError):
        return ttypes.TStatus(
            statusCode=_ERROR,
            sqlState=error.sql_state or GENERAL_SQL_STATE,
            errorCode=error.error_code,
            errorMessage=error.message,
        )
    message = str(error) if isinstance(error, KyuubiError) else f"{type(error).__name__}: {error}"
    return ttypes.TStatus(
        statusCode=_ERROR, sqlState=GENERAL_SQL_STATE, errorCode=0, errorMessage=message
    )


def is_ok(status: ttypes.TStatus | None) -> bool:
    return status is not None and status.statusCode in (
        _OK,
        ttypes.TStatusCode.SUCCESS_WITH_INFO_STATUS,
    )


def raise_for_status(status: ttypes.TStatus | None) -> None:
    """Raise the :class:`KyuubiSQLError` an error status describes (used on engine replies)."""
    if is_ok(status):
        return
    if status is None:
        raise KyuubiSQLError("Missing status in reply", GENERAL_SQL_STATE)
    raise KyuubiSQLError(
        status.errorMessage or "Unknown error",
        status.sqlState or GENERAL_SQL_STATE,
        status.errorCode or 0,
    )
