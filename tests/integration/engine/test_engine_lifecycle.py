"""An engine as the gateway runs it: initialization statements, engine secret, ZooKeeper
registration (and re-registration after a session expiry), idle-timeout stop with
deregistration.

One separate short-lived engine for the module; the tests run in file order and the last one
waits for it to stop by itself.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hs2 import Client, T
from support.engine_process import EngineProcess, start_engine
from thrift.protocol.TProtocol import TProtocolException
from thrift.transport.TTransport import TTransportException

from kyuubi_py import __version__
from kyuubi_py.errors import AuthenticationError
from kyuubi_py.ha.paths import engine_space
from kyuubi_py.ha.zookeeper import ZooKeeperDiscoveryClient
from kyuubi_py.transport.client import ThriftClientConnection

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(240)]

SECRET = "s3cret-" + uuid.uuid4().hex
IDLE_TIMEOUT_S = 8
NAMESPACE = f"engine_test_{uuid.uuid4().hex[:8]}"
REF_ID = str(uuid.uuid4())
USER = "erin"
#: A failing statement (logged, the engine serves anyway), then one whose effect the first
#: session must see: sessions open only after the initialization statements.
INITIALIZE_SQL = (
    "SELECT no_such_column_anywhere; "
    "CREATE OR REPLACE GLOBAL TEMP VIEW initialized_probe AS SELECT 42 AS answer"
)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def space() -> str:
    return engine_space(NAMESPACE, __version__, "USER", USER, "default")


@pytest.fixture(scope="module")
def discovery(zookeeper: str) -> Iterator[ZooKeeperDiscoveryClient]:
    client = ZooKeeperDiscoveryClient(zookeeper, session_timeout_s=10)
    client.start()
    yield client
    client.stop()


@pytest.fixture(scope="module")
def lifecycle_engine(
    zookeeper: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineProcess]:
    conf = {
        "kyuubi.ha.addresses": zookeeper,
        "kyuubi.ha.namespace": NAMESPACE,
        "kyuubi.ha.zookeeper.session.timeout": "PT3S",
        "kyuubi.engine.ref.id": REF_ID,
        "kyuubi.engine.user": USER,
        "kyuubi.engine.share.level": "USER",
        "kyuubi.session.engine.idle.timeout": f"PT{IDLE_TIMEOUT_S}S",
        "kyuubi.session.engine.check.interval": "PT1S",
        "spark.master": "local[1]",
        "kyuubi.engine.initialize.sql": INITIALIZE_SQL,
    }
    log_path: Path = tmp_path_factory.mktemp("lifecycle-engine") / "engine.log"
    engine = start_engine(log_path, conf, env={"KYUUBI_ENGINE_SECRET": SECRET})
    yield engine
    engine.stop()


def test_first_session_sees_the_initialization(lifecycle_engine: EngineProcess) -> None:
    host, port = lifecycle_engine.host, lifecycle_engine.port
    with Client(host, port, user=USER, password=SECRET) as client:
        assert client.query("SELECT answer FROM global_temp.initialized_probe") == [(42,)]
    log_text = lifecycle_engine.log_text()
    assert "Initialization statement failed" in log_text
    assert "SELECT no_such_column_anywhere" in log_text and "UNRESOLVED_COLUMN" in log_text
    assert "Initialization statement done" in log_text
    # No statement ran a Spark job, so one warms that path in the background.
    wait_until(
        lambda: "Spark job path warmed up" in lifecycle_engine.log_text(), 60, "the job warm-up"
    )


def test_secret_is_required(lifecycle_engine: EngineProcess) -> None:
    host, port = lifecycle_engine.host, lifecycle_engine.port
    assert SECRET not in Path(f"/proc/{lifecycle_engine.pid}/cmdline").read_text(errors="replace")
    with pytest.raises((AuthenticationError, TTransportException)):
        ThriftClientConnection(host, port, user=USER, password="wrong").close()
    nosasl = ThriftClientConnection(host, port, sasl=False, timeout_s=10)
    try:
        # Refused: the server answers a SASL error (garbage to a NOSASL client) and closes.
        with pytest.raises((TTransportException, TProtocolException, OSError, EOFError)):
            nosasl.call("OpenSession", T.TOpenSessionReq(client_protocol=9, username=USER))
    finally:
        nosasl.close()
    with Client(host, port, user=USER, password=SECRET) as client:
        assert client.query("SELECT current_user()") == [(USER,)]


def test_registered_in_zookeeper(
    lifecycle_engine: EngineProcess, discovery: ZooKeeperDiscoveryClient, space: str
) -> None:
    nodes = discovery.get_service_nodes(space)
    assert len(nodes) == 1
    node = nodes[0]
    assert node.ref_id == REF_ID and node.version == __version__
    assert (node.host, node.port) == (lifecycle_engine.host, lifecycle_engine.port)
    assert node.data == f"{lifecycle_engine.host}:{lifecycle_engine.port}".encode()
    assert node.name.startswith(f"serverUri={node.host}:{node.port};version={__version__};")
    assert "kyuubi.engine.id=local-" in node.name


def test_reregistered_after_session_expiry(
    lifecycle_engine: EngineProcess, discovery: ZooKeeperDiscoveryClient, space: str
) -> None:
    before = discovery.get_service_nodes(space)[0]
    # Freeze the engine's Python process past its 3 s ZooKeeper session timeout: the server
    # expires the session and drops the ephemeral node (what a long GC pause does).
    os.kill(lifecycle_engine.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: not discovery.get_service_nodes(space), 20, "the node to expire")
    finally:
        os.kill(lifecycle_engine.pid, signal.SIGCONT)
    wait_until(lambda: bool(discovery.get_service_nodes(space)), 30, "re-registration")
    after = discovery.get_service_nodes(space)[0]
    assert after.ref_id == REF_ID and after.path != before.path
    assert (after.sequence or 0) > (before.sequence or 0)


def test_idle_engine_stops_and_deregisters(
    lifecycle_engine: EngineProcess, discovery: ZooKeeperDiscoveryClient, space: str
) -> None:
    with Client(lifecycle_engine.host, lifecycle_engine.port, user=USER, password=SECRET) as client:
        time.sleep(IDLE_TIMEOUT_S + 3)  # an open session keeps the engine alive
        assert lifecycle_engine.process.poll() is None
        assert client.query("SELECT 1") == [(1,)]
    began = time.monotonic()
    assert lifecycle_engine.wait_exit(IDLE_TIMEOUT_S + 40) == 0, lifecycle_engine.log_text()[-3000:]
    assert time.monotonic() - began >= IDLE_TIMEOUT_S - 1
    assert discovery.get_service_nodes(space) == []
    log_text: Any = lifecycle_engine.log_text()
    assert "kyuubi.session.engine.idle.timeout" in log_text and "Deregistered" in log_text


def test_engine_exits_when_its_jvm_dies(tmp_path: Path) -> None:
    engine = start_engine(
        tmp_path / "engine.log",
        {
            "spark.master": "local[1]",
            "kyuubi.session.engine.check.interval": "PT1S",
        },
    )
    try:
        children = Path(f"/proc/{engine.pid}/task/{engine.pid}/children").read_text().split()
        jvms = [
            int(pid)
            for pid in children
            if "java" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        ]
        assert len(jvms) == 1
        os.kill(jvms[0], signal.SIGKILL)
        assert engine.wait_exit(30) is not None, "the engine outlived its JVM"
        assert "the Spark application is gone" in engine.log_text()
    finally:
        engine.stop()
