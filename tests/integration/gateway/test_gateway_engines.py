"""The gateway with real Spark engines: isolation, session conf, launch failure, discovery.

Real engines cost ~10-20 s and ~450 MB each, so this module starts two (alice's and bob's, on the
session-scoped ``gateway``) and every test reuses them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pyspark
import pytest
from pyhive.exc import OperationalError
from support.gateway_support import GatewayUnderTest, StartGateway, query, scalar

from kyuubi_py.protocol.handles import OperationHandle, SessionHandle
from kyuubi_py.protocol.tcli import V10, ttypes
from kyuubi_py.server.conf import default_spark_submit
from kyuubi_py.transport.client import ThriftClientConnection

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(300)]


def app_name(connection: object) -> str:
    rows = query(connection, "SET spark.app.name")  # type: ignore[arg-type]
    return str(rows[0][1])


def test_users_get_engines_of_their_own(gateway: GatewayUnderTest) -> None:
    alice = gateway.connect("alice")
    bob = gateway.connect("bob")
    try:
        assert scalar(alice, "select current_user()") == "alice"
        assert scalar(bob, "select current_user()") == "bob"
        alice_app, bob_app = app_name(alice), app_name(bob)
        assert alice_app.startswith("kyuubi_USER_SPARK_SQL_alice_default_")
        assert bob_app.startswith("kyuubi_USER_SPARK_SQL_bob_default_")
        # a second session of alice's reuses her engine
        again = gateway.connect("alice")
        assert app_name(again) == alice_app
        again.close()
    finally:
        alice.close()
        bob.close()
    spaces = {
        user: gateway.server.discovery.get_service_nodes(  # type: ignore[union-attr]
            f"/gw_real_0.1.0_USER_SPARK_SQL/{user}/default"
        )
        for user in ("alice", "bob")
    }
    assert len(spaces["alice"]) == 1 and len(spaces["bob"]) == 1
    assert spaces["alice"][0].ref_id != spaces["bob"][0].ref_id


def test_engines_import_the_installed_pyspark(gateway: GatewayUnderTest) -> None:
    """spark-submit puts SPARK_HOME's pyspark.zip first on the driver's path; with the pip
    installed pyspark that is the same code without bytecode, so the engine takes the package."""
    connection = gateway.connect("alice")
    try:
        app = app_name(connection)
    finally:
        connection.close()
    log_dir = Path(gateway.conf["kyuubi.session.engine.log.dir"])
    engine_log = (log_dir / f"{app}.log").read_text(errors="replace")
    installed = Path(pyspark.__file__).parent
    assert f"pyspark {pyspark.__version__} from {installed}\n" in engine_log


def test_the_gateway_reaches_engines_on_its_host_over_their_local_socket(
    gateway: GatewayUnderTest,
) -> None:
    connection = gateway.connect("alice")
    try:
        assert scalar(connection, "select 1") == 1
        assert gateway.server.backend is not None
        families = {
            session.client._connection._sock.family
            for session in gateway.server.backend.sessions.sessions()
        }
        assert families == {socket.AF_UNIX}
    finally:
        connection.close()


def raw(gateway: GatewayUnderTest, user: str) -> ThriftClientConnection:
    return ThriftClientConnection(gateway.host, gateway.port, user=user, password="any")


def open_raw(connection: ThriftClientConnection) -> ttypes.TSessionHandle:
    resp = connection.call("OpenSession", ttypes.TOpenSessionReq(client_protocol=V10))
    assert resp.status.statusCode == 0, resp.status
    return resp.sessionHandle


def test_handles_of_another_user_are_unknown_to_him(gateway: GatewayUnderTest) -> None:
    with raw(gateway, "alice") as alice, raw(gateway, "bob") as bob:
        session = open_raw(alice)
        executed = alice.call(
            "ExecuteStatement",
            ttypes.TExecuteStatementReq(
                sessionHandle=session, statement="select 42", runAsync=False
            ),
        )
        assert executed.status.statusCode == 0, executed.status
        operation = executed.operationHandle
        unknown = OperationHandle().to_thrift()
        fetch = ttypes.TFetchResultsReq(operationHandle=unknown, orientation=0, maxRows=10)
        expected = bob.call("FetchResults", fetch).status.errorMessage
        assert expected.startswith("Invalid OperationHandle")
        public = OperationHandle.from_thrift(operation).public_id
        for method, req in (
            (
                "FetchResults",
                ttypes.TFetchResultsReq(operationHandle=operation, orientation=0, maxRows=10),
            ),
            ("GetOperationStatus", ttypes.TGetOperationStatusReq(operationHandle=operation)),
            ("GetResultSetMetadata", ttypes.TGetResultSetMetadataReq(operationHandle=operation)),
            ("CancelOperation", ttypes.TCancelOperationReq(operationHandle=operation)),
            ("CloseOperation", ttypes.TCloseOperationReq(operationHandle=operation)),
        ):
            status = bob.call(method, req).status
            assert status.statusCode == 3, method
            assert status.errorMessage == f"Invalid OperationHandle: {public}", method
        for method, req in (
            (
                "ExecuteStatement",
                ttypes.TExecuteStatementReq(sessionHandle=session, statement="select 1"),
            ),
            ("CloseSession", ttypes.TCloseSessionReq(sessionHandle=session)),
        ):
            status = bob.call(method, req).status
            assert (
                status.errorMessage
                == f"Invalid SessionHandle: {SessionHandle.from_thrift(session)}"
            )
        # alice's operation is untouched: she still gets her row
        rows = alice.call(
            "FetchResults",
            ttypes.TFetchResultsReq(operationHandle=operation, orientation=0, maxRows=10),
        )
        assert rows.status.statusCode == 0
        assert rows.results.columns[0].i32Val.values == [42]
        alice.call("CloseSession", ttypes.TCloseSessionReq(sessionHandle=session))


def test_session_conf_reaches_the_engine(gateway: GatewayUnderTest) -> None:
    connection = gateway.connect(
        "alice",
        configuration={
            "spark.sql.shuffle.partitions": "7",
            "set:hivevar:answer": "41",
        },
    )
    try:
        assert query(connection, "SET spark.sql.shuffle.partitions")[0][1] == "7"
        assert scalar(connection, "select ${answer} + 1") == 42
    finally:
        connection.close()


def test_denied_and_restricted_keys_are_refused(
    gateway: GatewayUnderTest, start_gateway: StartGateway
) -> None:
    with pytest.raises(OperationalError, match="cannot be set by a client"):
        gateway.connect("alice", configuration={"spark.driver.extraJavaOptions": "-Dx=1"})
    strict = start_gateway(
        "gw_real",
        submit=gateway.submit,
        **{
            "kyuubi.session.conf.restrict.list": "spark.sql.shuffle.partitions",
            "kyuubi.session.conf.ignore.list": "spark.sql.ansi.enabled",
        },
    )
    with pytest.raises(OperationalError, match="restricted by the server"):
        strict.connect("alice", configuration={"spark.sql.shuffle.partitions": "3"})
    spawned = len(gateway.submit.runs())
    connection = strict.connect("alice", configuration={"spark.sql.ansi.enabled": "false"})
    try:
        assert query(connection, "SET spark.sql.ansi.enabled")[0][1] == "true"  # dropped
    finally:
        connection.close()
    assert len(gateway.submit.runs()) == spawned  # alice's running engine was reused


def test_bad_spark_conf_fails_the_launch_with_the_log_tail(gateway: GatewayUnderTest) -> None:
    with pytest.raises(OperationalError) as info:
        gateway.connect("dora", configuration={"spark.driver.memory": "abc"})
    message = str(info.value)
    assert "Failed to launch engine kyuubi_USER_SPARK_SQL_dora_default_" in message
    assert "spark-submit exited with code" in message
    assert "abc" in message  # the JVM's own complaint about the heap size is quoted
    run = gateway.submit.runs()[-1]
    assert "spark.driver.memory=abc" in run["argv"]  # type: ignore[operator]


def test_beeline_finds_a_gateway_through_zookeeper(gateway: GatewayUnderTest) -> None:
    beeline = Path(default_spark_submit()).with_name("beeline")
    url = (
        f"jdbc:hive2://{gateway.zookeeper}/;serviceDiscoveryMode=zooKeeper;"
        f"zooKeeperNamespace={gateway.namespace}"
    )
    assert shutil.which(str(beeline)), beeline
    result = subprocess.run(
        [
            str(beeline),
            "-u",
            url,
            "-n",
            "alice",
            "-p",
            "x",
            "--silent=true",
            "--outputformat=csv2",
            "-e",
            "select current_user() as who",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "who\nalice" in result.stdout, result.stdout
