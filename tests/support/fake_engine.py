"""A fake engine for gateway tests: our Thrift frontend over a tiny backend, no Spark.

Started by ``fake_submit.py`` with the app arguments a gateway gives the real engine
(``--conf kyuubi.k=v ...``) and the secret in ``KYUUBI_ENGINE_SECRET``. It checks the secret,
registers in ZooKeeper exactly like the real engine (engine space, ``refId``, ``host:port``),
stops after its idle timeout (CONNECTION level: when its session closes) or on SIGTERM, and
answers a few statements with one string cell:

- ``whoami``: the session user (what ``current_user()`` is on the real engine);
- ``engine``: ``<refId> <pid>`` of this process;
- ``conf <key>``: the session's OpenSession configuration value of ``key`` (or ``<unset>``);
- ``crash``: the process exits at once, mid-statement;
- anything else fails with an error status.
"""

from __future__ import annotations

import argparse
import hmac
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kyuubi_py import __version__
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf, parse_conf_pair
from kyuubi_py.errors import AuthenticationError, KyuubiSQLError
from kyuubi_py.ha.conf import HA_ADDRESSES, HA_NAMESPACE
from kyuubi_py.ha.paths import engine_node_prefix, engine_space
from kyuubi_py.ha.zookeeper import ZooKeeperDiscoveryClient
from kyuubi_py.operation.state import OperationState
from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.rowset import ColumnKind, columnar_rowset_from_pylists
from kyuubi_py.protocol.tcli import SERVER_MAX_PROTOCOL, ttypes
from kyuubi_py.service.backend import Caller, FetchedRows, OpenedSession, OperationStatus
from kyuubi_py.service.thrift_service import ThriftFrontendService

FINISHED = OperationState.FINISHED


@dataclass
class FakeSession:
    user: str
    owner: str | None
    configuration: dict[str, str]
    operations: dict[OperationHandle, list[str]] = field(default_factory=dict)


class FakeBackend:
    def __init__(self, ref_id: str) -> None:
        self.ref_id = ref_id
        self.sessions: dict[SessionHandle, FakeSession] = {}
        self.opened = 0
        self.lock = threading.Lock()

    def _session(self, caller: Caller, handle: SessionHandle) -> FakeSession:
        session = self.sessions.get(handle)
        if session is None or session.owner != caller.user:
            raise KyuubiSQLError.invalid_handle("SessionHandle", handle)
        return session

    def _operation(self, caller: Caller, handle: OperationHandle) -> list[str]:
        for session in list(self.sessions.values()):
            if handle in session.operations and session.owner == caller.user:
                return session.operations[handle]
        raise KyuubiSQLError.invalid_handle("OperationHandle", handle)

    def open_session(
        self,
        caller: Caller,
        client_protocol: int,
        username: str | None,
        password: str | None,
        configuration: Mapping[str, str],
    ) -> OpenedSession:
        handle = SessionHandle()
        with self.lock:
            self.sessions[handle] = FakeSession(caller.user or "", caller.user, dict(configuration))
            self.opened += 1
        protocol = min(client_protocol, SERVER_MAX_PROTOCOL)
        return OpenedSession(handle, protocol, {"fake.engine.ref.id": self.ref_id})

    def close_session(self, caller: Caller, session: SessionHandle) -> None:
        self._session(caller, session)
        with self.lock:
            del self.sessions[session]

    def connection_closed(self, caller: Caller) -> None:
        """The gateway closes its sessions explicitly; a dropped connection leaves them."""

    def get_info(
        self, caller: Caller, session: SessionHandle, info_type: int
    ) -> ttypes.TGetInfoValue:
        self._session(caller, session)
        return ttypes.TGetInfoValue(stringValue="Spark SQL")

    def execute_statement(
        self,
        caller: Caller,
        session: SessionHandle,
        statement: str,
        conf_overlay: Mapping[str, str],
        run_async: bool,
        query_timeout_s: int,
    ) -> OperationHandle:
        owner = self._session(caller, session)
        result = self._answer(owner, statement.strip())
        handle = OperationHandle()
        owner.operations[handle] = [result]
        return handle

    def _answer(self, session: FakeSession, statement: str) -> str:
        if statement == "whoami":
            return session.user
        if statement == "engine":
            return f"{self.ref_id} {os.getpid()}"
        if statement.startswith("conf "):
            return session.configuration.get(statement[5:].strip(), "<unset>")
        if statement.lower().startswith("use "):
            return ""
        if statement == "crash":
            os._exit(1)
        raise KyuubiSQLError(f"fake engine: unsupported statement {statement!r}", "42000")

    def get_operation_status(
        self, caller: Caller, operation: OperationHandle, progress: bool
    ) -> OperationStatus:
        self._operation(caller, operation)
        return OperationStatus(FINISHED, FINISHED.to_thrift(), True)

    def get_result_set_metadata(
        self, caller: Caller, operation: OperationHandle
    ) -> ttypes.TTableSchema:
        self._operation(caller, operation)
        desc = ttypes.TTypeDesc(
            types=[
                ttypes.TTypeEntry(
                    primitiveEntry=ttypes.TPrimitiveTypeEntry(type=ttypes.TTypeId.STRING_TYPE)
                )
            ]
        )
        return ttypes.TTableSchema(columns=[ttypes.TColumnDesc("result", desc, 1)])

    def fetch_results(
        self,
        caller: Caller,
        operation: OperationHandle,
        orientation: int,
        max_rows: int,
        fetch_type: int,
    ) -> FetchedRows:
        rows = self._operation(caller, operation)
        values = [] if fetch_type == 1 else list(rows)
        rows.clear()
        return FetchedRows(columnar_rowset_from_pylists([(ColumnKind.STRING, values)]))

    def cancel_operation(self, caller: Caller, operation: OperationHandle) -> None:
        self._operation(caller, operation)

    def close_operation(self, caller: Caller, operation: OperationHandle) -> None:
        self._operation(caller, operation)
        for session in self.sessions.values():
            session.operations.pop(operation, None)

    def get_query_id(self, caller: Caller, operation: OperationHandle) -> str:
        return ""

    def set_client_info(
        self, caller: Caller, session: SessionHandle, configuration: Mapping[str, str]
    ) -> None:
        self._session(caller, session)

    def _unsupported(self, *args: object) -> OperationHandle:
        raise KyuubiSQLError.feature_not_supported("Metadata calls on the fake engine")

    get_type_info = get_catalogs = get_schemas = get_tables = _unsupported
    get_table_types = get_columns = get_functions = _unsupported
    get_primary_keys = get_cross_reference = _unsupported


def secret_check(secret: str):  # type: ignore[no-untyped-def]
    def authenticate(user: str, password: str) -> str:
        if not hmac.compare_digest(password.encode(), secret.encode()):
            raise AuthenticationError("Error validating the login")
        return user

    return authenticate


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conf", action="append", default=[])
    conf = KyuubiConf().set_all(parse_conf_pair(p) for p in parser.parse_args(argv).conf)
    secret = os.environ.pop(keys.ENGINE_SECRET_ENV)
    ref_id = conf.get(keys.ENGINE_REF_ID) or "no-ref"
    level = conf.get(keys.ENGINE_SHARE_LEVEL) or "USER"
    backend = FakeBackend(ref_id)
    frontend = ThriftFrontendService(backend, secret_check(secret), False, name="FakeEngine")  # type: ignore[arg-type]
    frontend_conf = KyuubiConf({"kyuubi.frontend.thrift.binary.bind.port": "0"})
    frontend.initialize(frontend_conf)
    frontend.start()
    discovery = ZooKeeperDiscoveryClient(conf.get(HA_ADDRESSES) or "", 10.0, 10.0)
    discovery.start()
    space = engine_space(
        conf.get(HA_NAMESPACE) or "kyuubi",
        __version__,
        level,
        conf.get(keys.ENGINE_USER) or "nobody",
        conf.get(keys.ENGINE_SHARE_LEVEL_SUBDOMAIN) or "default",
    )
    prefix = engine_node_prefix(space, "127.0.0.1", frontend.port, __version__, ref_id)
    registration = discovery.register_service(prefix, f"127.0.0.1:{frontend.port}".encode())
    print(f"fake engine {ref_id} pid {os.getpid()} listening on port {frontend.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    idle_timeout = conf.get(keys.SESSION_ENGINE_IDLE_TIMEOUT) or 0.0
    idle_since = time.monotonic()
    while not stop.wait(0.2):
        if backend.sessions:
            idle_since = time.monotonic()
        elif level == "CONNECTION" and backend.opened:
            break
        elif 0 < idle_timeout < time.monotonic() - idle_since:
            break
    print("fake engine stopping", flush=True)
    registration.deregister()
    frontend.stop()
    discovery.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
