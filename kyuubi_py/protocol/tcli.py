"""The only import point for the generated TCLIService code (``_gen/``, from ``idl/``)."""

from __future__ import annotations

from kyuubi_py.protocol._gen.TCLIService import TCLIService, constants, ttypes

#: The highest protocol version kyuubi_py negotiates (JDBC 2.3 rejects V11; see DESIGN.md).
SERVER_MAX_PROTOCOL = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V10
V6 = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V6
V8 = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V8
V10 = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V10
V11 = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V11

__all__ = ["TCLIService", "constants", "ttypes", "SERVER_MAX_PROTOCOL", "V6", "V8", "V10", "V11"]
