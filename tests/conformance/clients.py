"""Client-side helpers of the conformance suite: the server under test, real-client connections,
a raw TCLIService client, raw-socket framing and beeline.

Nothing here knows which server it talks to: every check is written once and run against our
engine, Spark Thrift Server (the reference) and, later, the gateway.
"""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyspark
import thrift_sasl
from impala import dbapi as impyla
from pyhive import hive
from pyhive.sasl_compat import PureSASLClient
from thrift.protocol import TBinaryProtocol, TProtocol
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport import TSocket, TTransport

from kyuubi_py.protocol.tcli import TCLIService, ttypes

SPARK_HOME = Path(pyspark.__file__).resolve().parent
SPARK_VERSION = pyspark.__version__
USER = "conformance_user"
PASSWORD = "any-password"

# --------------------------------------------------------------------------------------------------
# The server under test


@dataclass(frozen=True)
class HS2Target:
    """A HiveServer2 endpoint plus what it is expected to do beyond Spark Thrift Server.

    ``capabilities`` names behaviours that the conformance checklist requires of kyuubi_py but
    that STS does not have; tests needing one are marked ``@pytest.mark.target_has(<name>)`` and
    are deselected for a target that lacks it (see conftest.py for the names).
    """

    name: str
    host: str
    port: int
    max_protocol: int
    capabilities: frozenset[str] = field(default_factory=frozenset)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def jdbc_url(self, database: str = "default", suffix: str = "") -> str:
        return f"jdbc:hive2://{self.host}:{self.port}/{database}{suffix}"


def unique_name(prefix: str) -> str:
    """A table/database name no other test (or earlier run on a shared warehouse) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def sleep_sql(millis: int, tasks: int = 1) -> str:
    """A query whose ``tasks`` Spark tasks each sleep ``millis`` ms (interruptible by a job
    cancel) and then answer the string 'null' (reflect() of a void method)."""
    return (
        f"select reflect('java.lang.Thread', 'sleep', cast({millis} as bigint)) as r "
        f"from range(0, {tasks}, 1, {tasks})"
    )


def wait_for_port(
    host: str, port: int, timeout_s: float, alive: Callable[[], bool] | None = None
) -> None:
    """Wait until ``host:port`` accepts TCP connections; ``alive()`` False aborts early."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"server process exited before listening on {host}:{port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.25)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


# --------------------------------------------------------------------------------------------------
# Real clients


def pyhive_connect(
    target: HS2Target,
    *,
    auth: str | None = None,
    username: str = USER,
    database: str = "default",
    configuration: dict[str, str] | None = None,
) -> hive.Connection:
    """pyhive's own connect(): SASL PLAIN by default (auth None = 'NONE'), or 'NOSASL'."""
    return hive.connect(
        host=target.host,
        port=target.port,
        auth=auth,
        username=username,
        database=database,
        configuration=configuration,
    )


def impyla_connect(
    target: HS2Target, *, auth_mechanism: str = "NOSASL", user: str = USER, timeout: float = 60
) -> Any:
    """impyla's connect(); NOSASL is impyla's default, PLAIN sends ``user``/``PASSWORD``."""
    kwargs: dict[str, Any] = {"auth_mechanism": auth_mechanism, "timeout": timeout}
    if auth_mechanism != "NOSASL":
        kwargs.update(user=user, password=PASSWORD)
    return impyla.connect(host=target.host, port=target.port, **kwargs)


def column_names(description: Sequence[Sequence[Any]] | None) -> list[str]:
    assert description is not None, "statement returned no result set"
    return [d[0] for d in description]


def column_types(description: Sequence[Sequence[Any]] | None) -> list[str]:
    assert description is not None, "statement returned no result set"
    return [d[1] for d in description]


def table_names_from_show_tables(description: Any, rows: Sequence[Sequence[Any]]) -> list[str]:
    """Table names of a ``SHOW TABLES`` result in either accepted layout (checklist item 40):
    Spark's (namespace, tableName, isTemporary) or Hive's single ``tab_name`` column."""
    names = column_names(description)
    if names == ["namespace", "tableName", "isTemporary"]:
        return sorted(row[1] for row in rows)
    assert names == ["tab_name"], f"unexpected SHOW TABLES layout {names}"
    return sorted(row[0] for row in rows)


# --------------------------------------------------------------------------------------------------
# Raw TCLIService client (generated code from kyuubi_py.protocol.tcli)


def _sasl_plain_factory(user: str, password: str) -> Any:
    return lambda: PureSASLClient("127.0.0.1", mechanism="PLAIN", username=user, password=password)


class RawClient:
    """A TCLIService client over SASL PLAIN (thrift_sasl + pure-sasl, like pyhive) or NOSASL
    (unframed TBufferedTransport, like impyla), plus calls the generated code cannot make."""

    def __init__(
        self, target: HS2Target, *, sasl: bool = True, user: str = USER, timeout_s: float = 60
    ) -> None:
        sock = TSocket.TSocket(target.host, target.port)
        sock.setTimeout(int(timeout_s * 1000))
        self.transport: TTransport.TTransportBase
        if sasl:
            self.transport = thrift_sasl.TSaslClientTransport(
                _sasl_plain_factory(user, PASSWORD), "PLAIN", sock
            )
        else:
            self.transport = TTransport.TBufferedTransport(sock)
        self.transport.open()
        self.protocol = TBinaryProtocol.TBinaryProtocol(self.transport)
        self.client = TCLIService.Client(self.protocol)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions and statements ------------------------------------------------------------

    def open_session(
        self,
        version: int = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V10,
        *,
        username: str | None = USER,
        configuration: dict[str, str] | None = None,
    ) -> ttypes.TOpenSessionResp:
        resp = self.client.OpenSession(
            ttypes.TOpenSessionReq(
                client_protocol=version, username=username, configuration=configuration
            )
        )
        assert_success(resp.status)
        return resp

    def session(
        self, version: int = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V10
    ) -> ttypes.TSessionHandle:
        return self.open_session(version).sessionHandle

    def execute(
        self, session: ttypes.TSessionHandle, statement: str, *, run_async: bool = False
    ) -> ttypes.TOperationHandle:
        resp = self.client.ExecuteStatement(
            ttypes.TExecuteStatementReq(
                sessionHandle=session, statement=statement, runAsync=run_async
            )
        )
        assert_success(resp.status)
        assert resp.operationHandle is not None
        return resp.operationHandle

    def fetch(
        self,
        op: ttypes.TOperationHandle,
        max_rows: int = 1000,
        orientation: int = ttypes.TFetchOrientation.FETCH_NEXT,
        fetch_type: int = 0,
    ) -> ttypes.TFetchResultsResp:
        return self.client.FetchResults(
            ttypes.TFetchResultsReq(
                operationHandle=op, orientation=orientation, maxRows=max_rows, fetchType=fetch_type
            )
        )

    def wait_finished(
        self, op: ttypes.TOperationHandle, timeout_s: float = 60
    ) -> list[ttypes.TGetOperationStatusResp]:
        """Poll GetOperationStatus until a terminal state; returns every reply seen."""
        replies: list[ttypes.TGetOperationStatusResp] = []
        terminal = {
            ttypes.TOperationState.FINISHED_STATE,
            ttypes.TOperationState.ERROR_STATE,
            ttypes.TOperationState.CANCELED_STATE,
            ttypes.TOperationState.CLOSED_STATE,
            ttypes.TOperationState.TIMEDOUT_STATE,
        }
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            resp = self.client.GetOperationStatus(ttypes.TGetOperationStatusReq(op))
            assert_success(resp.status)
            replies.append(resp)
            if resp.operationState in terminal:
                return replies
            time.sleep(0.05)
        raise TimeoutError(f"operation not finished after {timeout_s} s: {replies[-1]}")

    # -- hand-written calls: methods the generated client does not know, bytes it cannot send --

    def raw_call(
        self, method: str, write_req: Callable[[TProtocol.TProtocolBase], None]
    ) -> TApplicationException | Any:
        """Send ``method(req)`` with ``write_req`` writing the fields of ``req``; return the
        TApplicationException of an EXCEPTION reply, else the reply's field 0 read with the
        generated ``<method>_result`` (None when the generated code has no such method)."""
        seqid = 7
        proto = self.protocol
        proto.writeMessageBegin(method, TMessageType.CALL, seqid)
        proto.writeStructBegin(f"{method}_args")
        proto.writeFieldBegin("req", TType.STRUCT, 1)
        proto.writeStructBegin(f"T{method}Req")
        write_req(proto)
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        self.transport.flush()
        name, mtype, rseqid = proto.readMessageBegin()
        assert (name, rseqid) == (method, seqid), "a reply must echo the method name and seqid"
        if mtype == TMessageType.EXCEPTION:
            exc = TApplicationException()
            exc.read(proto)
            proto.readMessageEnd()
            return exc
        result_cls = getattr(TCLIService, f"{method}_result", None)
        if result_cls is None:
            proto.skip(TType.STRUCT)
            proto.readMessageEnd()
            return None
        result = result_cls()
        result.read(proto)
        proto.readMessageEnd()
        return result.success

    def call_with_handle(self, method: str, handle: ttypes.TOperationHandle) -> Any:
        """``method(req={1: operationHandle})``: the shape of CDH's GetLog and Impala's
        CloseImpalaOperation, binary GUIDs inside."""

        def write(proto: TProtocol.TProtocolBase) -> None:
            proto.writeFieldBegin("operationHandle", TType.STRUCT, 1)
            handle.write(proto)
            proto.writeFieldEnd()

        return self.raw_call(method, write)

    def execute_bytes(self, session: ttypes.TSessionHandle, statement: bytes) -> Any:
        """ExecuteStatement with raw statement bytes (which need not be UTF-8)."""

        def write(proto: TProtocol.TProtocolBase) -> None:
            proto.writeFieldBegin("sessionHandle", TType.STRUCT, 1)
            session.write(proto)
            proto.writeFieldEnd()
            proto.writeFieldBegin("statement", TType.STRING, 2)
            proto.writeBinary(statement)
            proto.writeFieldEnd()

        return self.raw_call("ExecuteStatement", write)


def assert_success(status: ttypes.TStatus) -> None:
    assert status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS, (
        f"expected SUCCESS_STATUS, got {status.statusCode}: {status.errorMessage}"
    )


def assert_required_fields(obj: Any) -> None:
    """Every REQUIRED field of a reply and of every struct inside it is set (Java clients run
    ``validate()`` on each struct they read; Python's generated ``write()`` does not check)."""
    obj.validate()
    for spec in type(obj).thrift_spec or ():
        if spec is not None:
            _check_nested(getattr(obj, spec[2]), spec[1], spec[3])


def _check_nested(value: Any, ttype: int, args: Any) -> None:
    if value is None:
        return
    if ttype == TType.STRUCT:
        assert_required_fields(value)
    elif ttype in (TType.LIST, TType.SET):
        for item in value:
            _check_nested(item, args[0], args[1])
    elif ttype == TType.MAP:
        for key, item in value.items():
            _check_nested(key, args[0], args[1])
            _check_nested(item, args[2], args[3])


def decode_nulls(nulls: bytes, count: int) -> list[bool]:
    """The bitmap as clients read it: bit (r % 8), LSB first, of byte r // 8 set = NULL."""
    return [r // 8 < len(nulls) and bool(nulls[r // 8] & (1 << (r % 8))) for r in range(count)]


def column_values(column: ttypes.TColumn) -> tuple[list[Any], bytes]:
    """(values, nulls) of whichever variant the TColumn union carries."""
    for variant in (
        "boolVal",
        "byteVal",
        "i16Val",
        "i32Val",
        "i64Val",
        "doubleVal",
        "stringVal",
        "binaryVal",
    ):
        col = getattr(column, variant)
        if col is not None:
            return list(col.values), bytes(col.nulls)
    raise AssertionError(f"TColumn with no variant set: {column}")


# --------------------------------------------------------------------------------------------------
# Raw sockets (bad input)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"peer closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def sasl_message(status: int, payload: bytes) -> bytes:
    return struct.pack(">BI", status, len(payload)) + payload


def read_until_closed(sock: socket.socket, timeout_s: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or ``timeout_s`` passes (False)."""
    sock.settimeout(timeout_s)
    data = b""
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except ConnectionResetError:
        return data, True
    except TimeoutError:
        return data, False
    return data, False


def sasl_plain_handshake(sock: socket.socket, user: str = USER) -> None:
    """Complete SASL PLAIN the way thrift_sasl does; afterwards messages are length-framed."""
    sock.sendall(sasl_message(1, b"PLAIN") + sasl_message(2, f"\0{user}\0{PASSWORD}".encode()))
    status, length = struct.unpack(">BI", recv_exact(sock, 5))
    recv_exact(sock, length)
    assert status == 5, f"SASL handshake answered status {status}"


@contextlib.contextmanager
def raw_socket(target: HS2Target, timeout_s: float = 10) -> Iterator[socket.socket]:
    sock = socket.create_connection((target.host, target.port), timeout=timeout_s)
    try:
        yield sock
    finally:
        sock.close()


class Heartbeat:
    """A healthy pyhive client that keeps querying on its own connection in a thread while a test
    abuses the server, and proves it was served throughout."""

    def __init__(self, target: HS2Target, interval_s: float = 0.2) -> None:
        self._conn = pyhive_connect(target, username="heartbeat_user")
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.answers: list[float] = []
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        cursor = self._conn.cursor()
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                cursor.execute(f"select {n}")
                if cursor.fetchall() != [(n,)]:
                    raise AssertionError(f"heartbeat query {n} answered wrongly")
                with self._lock:
                    self.answers.append(time.monotonic())
            except BaseException as exc:  # recorded, checked by the test thread
                with self._lock:
                    self.errors.append(exc)
                return
            self._stop.wait(self._interval_s)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        self.wait_for_answer_after(time.monotonic())
        return self

    def wait_for_answer_after(self, since: float, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.errors:
                    raise AssertionError(f"healthy client failed: {self.errors[0]!r}")
                if self.answers and self.answers[-1] > since:
                    return
            time.sleep(0.05)
        raise AssertionError(f"healthy client got no answer within {timeout_s} s")

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait_for_answer_after(time.monotonic())
        finally:
            self._stop.set()
            self._thread.join(timeout=30)
            self._conn.close()


# --------------------------------------------------------------------------------------------------
# beeline (Hive JDBC 2.3.10 from the pyspark wheel)


@dataclass
class BeelineResult:
    returncode: int
    stdout: str
    stderr: str

    def rows(self) -> list[list[str]]:
        """stdout as csv2 rows. beeline's csv2 quotes fields with NUL, hence the quotechar;
        lines that are not output (warnings, progress ``\\r``) are dropped."""
        lines = [
            line
            for line in self.stdout.splitlines()
            if line and not line.startswith("WARNING: ") and "\r" not in line
        ]
        return list(csv.reader(lines, quotechar="\x00"))


def beeline(
    url: str,
    *,
    statements: str | None = None,
    script: Path | None = None,
    user: str = USER,
    password: str = PASSWORD,
    silent: bool = True,
    timeout_s: float = 90,
) -> BeelineResult:
    """Run beeline non-interactively (stdin /dev/null) with csv2 output."""
    cmd = [
        str(SPARK_HOME / "bin" / "beeline"),
        "-u",
        url,
        "-n",
        user,
        "-p",
        password,
        f"--silent={'true' if silent else 'false'}",
        "--outputformat=csv2",
        "--showWarnings=false",
    ]
    if statements is not None:
        cmd += ["-e", statements]
    if script is not None:
        cmd += ["-f", str(script)]
    env = dict(os.environ, SPARK_HOME=str(SPARK_HOME))
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        check=False,
    )
    return BeelineResult(proc.returncode, proc.stdout, proc.stderr)
