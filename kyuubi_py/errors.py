"""The one error root of kyuubi_py.

Internal code raises these typed errors; only the Thrift frontend turns them into a ``TStatus``
(and the gateway turns an engine's ``TStatus`` back into a :class:`KyuubiSQLError`).
"""

from __future__ import annotations


class KyuubiError(Exception):
    """Root of every error kyuubi_py raises on purpose."""


class KyuubiSQLError(KyuubiError):
    """An error a client should see, with its SQL state and vendor code.

    ``error_class`` is Spark's error class (e.g. ``TABLE_OR_VIEW_NOT_FOUND``) when the error came
    from Spark, so clients and the gateway can act on it.
    """

    def __init__(
        self,
        message: str,
        sql_state: str | None = None,
        error_code: int = 0,
        error_class: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sql_state = sql_state
        self.error_code = error_code
        self.error_class = error_class

    @classmethod
    def feature_not_supported(cls, what: str) -> KyuubiSQLError:
        return cls(f"{what} is not supported", sql_state="0A000")

    @classmethod
    def invalid_handle(cls, kind: str, handle: object) -> KyuubiSQLError:
        return cls(f"Invalid {kind}: {handle}", sql_state="HY000")


class ConfigError(KyuubiError):
    """A configuration value is missing, malformed, or not allowed."""


class AuthenticationError(KyuubiError):
    """Credentials were rejected. The message is safe to show to the client."""


class ConnectionLimitError(KyuubiSQLError):
    """A per-user / per-IP connection limit was reached."""


class ProtocolError(KyuubiError):
    """The peer broke the wire protocol (bad frame, bad SASL status, oversized message...)."""


class DiscoveryError(KyuubiError):
    """Service discovery (ZooKeeper) failed."""


class EngineLaunchError(KyuubiSQLError):
    """An engine could not be started or reached."""
