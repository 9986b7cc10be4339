"""Discovery against a real ZooKeeper (the embedded one, from the pyspark jars).

Session expiry is forced deterministically on the server side: a second kazoo client attaches to
the first one's session (same id and password) and closes it.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kyuubi_py.errors import DiscoveryError
from kyuubi_py.ha.embedded import EmbeddedZooKeeper
from kyuubi_py.ha.paths import engine_node_prefix, engine_space, server_node_prefix
from kyuubi_py.ha.zookeeper import ZooKeeperDiscoveryClient

pytestmark = pytest.mark.timeout(60)

SESSION_TIMEOUT_S = 4.0
VERSION = "0.1.0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_session(client: ZooKeeperDiscoveryClient) -> int | None:
    return None if client.client_id is None else client.client_id[0]


def wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.05)


@pytest.fixture
def namespace() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def connect(zookeeper: str) -> Iterator[Callable[[], ZooKeeperDiscoveryClient]]:
    clients: list[ZooKeeperDiscoveryClient] = []

    def new_client() -> ZooKeeperDiscoveryClient:
        client = ZooKeeperDiscoveryClient(zookeeper, SESSION_TIMEOUT_S, connection_timeout_s=10)
        client.start()
        clients.append(client)
        return client

    yield new_client
    for client in clients:
        client.stop()


@pytest.fixture
def client(connect: Callable[[], ZooKeeperDiscoveryClient]) -> ZooKeeperDiscoveryClient:
    return connect()


def test_register_gateway(client: ZooKeeperDiscoveryClient, namespace: str) -> None:
    prefix = server_node_prefix(namespace, "127.0.0.1", 10009, VERSION)
    first = client.register_service(prefix, b"127.0.0.1:10009")
    second = client.register_service(prefix, b"127.0.0.1:10009")
    assert first.path == f"/{namespace}/serverUri=127.0.0.1:10009;version=0.1.0;sequence=0000000000"
    assert second.path.endswith(";sequence=0000000001")
    assert client.get_data(first.path) == b"127.0.0.1:10009"

    nodes = client.get_service_nodes(f"/{namespace}")
    assert [n.path for n in nodes] == [first.path, second.path]
    assert (nodes[0].host, nodes[0].port, nodes[0].version, nodes[0].sequence) == (
        "127.0.0.1",
        10009,
        VERSION,
        0,
    )
    assert nodes[0].data == b"127.0.0.1:10009"

    first.deregister()
    first.deregister()  # idempotent
    assert client.get_data(first.path) is None
    assert [n.path for n in client.get_service_nodes(f"/{namespace}")] == [second.path]


def test_engine_nodes_sorted_and_non_service_children_ignored(
    client: ZooKeeperDiscoveryClient, namespace: str
) -> None:
    space = engine_space(namespace, VERSION, "USER", "alice", "default")
    assert client.get_service_nodes(space) == []
    paths = [
        client.register_service(
            engine_node_prefix(space, "10.0.0.1", 4000 + i, VERSION, f"ref-{i}", {"k": f"v{i}"}),
            f"10.0.0.1:{4000 + i}".encode(),
        ).path
        for i in range(3)
    ]
    client.ensure_path(f"{space}/not-a-service")
    nodes = client.get_service_nodes(space)
    assert [n.path for n in nodes] == paths
    assert [(n.ref_id, n.port, n.sequence) for n in nodes] == [
        ("ref-0", 4000, 0),
        ("ref-1", 4001, 1),
        ("ref-2", 4002, 2),
    ]
    assert dict(nodes[1].attributes) == {"k": "v1"}


def test_registration_is_recreated_after_session_expiry(
    expire_zookeeper_session: Callable[[ZooKeeperDiscoveryClient], None],
    client: ZooKeeperDiscoveryClient,
    namespace: str,
) -> None:
    deleted = threading.Event()
    registration = client.register_service(
        server_node_prefix(namespace, "h", 10009, VERSION), b"h:10009", on_deleted=deleted.set
    )
    old_path, old_session = registration.path, client_session(client)

    started = time.monotonic()
    expire_zookeeper_session(client)
    wait_until(
        lambda: registration.path != old_path and client.get_data(registration.path) is not None
    )
    elapsed = time.monotonic() - started

    assert client_session(client) != old_session
    assert registration.path.endswith(";sequence=0000000001")
    assert client.get_data(old_path) is None
    assert client.get_data(registration.path) == b"h:10009"
    assert [n.path for n in client.get_service_nodes(f"/{namespace}")] == [registration.path]
    assert not deleted.is_set(), "an expiry is not a decommission"
    assert elapsed < 10


def test_external_deletion_reports_decommission(
    connect: Callable[[], ZooKeeperDiscoveryClient], namespace: str
) -> None:
    owner, admin = connect(), connect()
    deleted = threading.Event()
    registration = owner.register_service(
        server_node_prefix(namespace, "h", 10009, VERSION), b"h:10009", on_deleted=deleted.set
    )
    admin.delete(registration.path)
    assert deleted.wait(10)
    time.sleep(0.5)
    assert owner.get_service_nodes(f"/{namespace}") == [], "a deleted node is not re-created"


def test_lock_is_mutually_exclusive(
    connect: Callable[[], ZooKeeperDiscoveryClient], namespace: str
) -> None:
    first, second = connect(), connect()
    path = f"/{namespace}_lock/alice/default"
    holders: list[str] = []
    overlap = threading.Event()

    def hold(name: str, client: ZooKeeperDiscoveryClient) -> None:
        for _ in range(5):
            with client.lock(path, timeout_s=20):
                holders.append(name)
                if len(holders) > 1:
                    overlap.set()
                time.sleep(0.02)
                holders.remove(name)

    threads = [
        threading.Thread(target=hold, args=(name, c), name=f"locker-{name}")
        for name, c in (("a", first), ("b", second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not overlap.is_set()

    with first.lock(path, timeout_s=5):
        started = time.monotonic()
        with (
            pytest.raises(
                DiscoveryError, match=r"Timed out after 0\.5 s waiting for the ZooKeeper"
            ),
            second.lock(path, timeout_s=0.5),
        ):
            pass
        assert time.monotonic() - started < 3
    with second.lock(path, timeout_s=5):
        pass  # released after the timeout and by the holder


def test_counter(connect: Callable[[], ZooKeeperDiscoveryClient], namespace: str) -> None:
    first, second = connect(), connect()
    path = f"/{namespace}_seqNum/alice/engine-pool"
    assert [first.get_and_increment(path), second.get_and_increment(path)] == [0, 1]
    assert first.get_and_increment(path) == 2
    assert first.get_data(path) == struct.pack(">i", 3)  # Curator's DistributedAtomicInteger


def test_deletion_watch(connect: Callable[[], ZooKeeperDiscoveryClient], namespace: str) -> None:
    watcher, engine = connect(), connect()
    fired: list[str] = []
    event = threading.Event()

    def on_deleted(path: str) -> None:
        fired.append(path)
        event.set()

    node = engine.register_service(f"/{namespace}/engine-", b"x").path
    watcher.watch_deletion(node, on_deleted)
    engine.ensure_path(f"/{namespace}/other")  # a sibling change must not fire it
    assert not event.wait(0.5)

    engine.stop()
    assert event.wait(10)
    assert fired == [node]


def test_deletion_watch_edge_cases(
    expire_zookeeper_session: Callable[[ZooKeeperDiscoveryClient], None],
    connect: Callable[[], ZooKeeperDiscoveryClient],
    namespace: str,
) -> None:
    watcher, other = connect(), connect()
    absent = threading.Event()
    watcher.watch_deletion(f"/{namespace}/absent", lambda _: absent.set())
    assert absent.wait(5), "an absent node fires at once"

    other.ensure_path(f"/{namespace}/cancelled")
    cancelled = threading.Event()
    cancel = watcher.watch_deletion(f"/{namespace}/cancelled", lambda _: cancelled.set())
    cancel()

    # A watch survives the watcher's own session expiry: it is re-armed on the new session.
    other.ensure_path(f"/{namespace}/kept")
    kept = threading.Event()
    watcher.watch_deletion(f"/{namespace}/kept", lambda _: kept.set())
    old_session = client_session(watcher)
    expire_zookeeper_session(watcher)
    wait_until(lambda: client_session(watcher) not in (None, old_session))
    time.sleep(0.5)
    assert not kept.is_set()
    other.delete(f"/{namespace}/kept")
    other.delete(f"/{namespace}/cancelled")
    assert kept.wait(10)
    assert not cancelled.wait(0.5)


def test_unreachable_zookeeper_fails_within_the_timeout() -> None:
    client = ZooKeeperDiscoveryClient(f"127.0.0.1:{free_port()}", SESSION_TIMEOUT_S, 1.0)
    started = time.monotonic()
    with pytest.raises(DiscoveryError, match=r"Cannot connect to ZooKeeper at .* within 1 s"):
        client.start()
    assert time.monotonic() - started < 3
    with pytest.raises(DiscoveryError, match="not started"):
        client.get_data("/")


def test_embedded_start_and_stop(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedZooKeeper(port, tmp_path) as server:
        assert server.is_running
        client = ZooKeeperDiscoveryClient(server.connect_string, SESSION_TIMEOUT_S, 5)
        client.start()
        client.ensure_path("/hello")
        client.stop()
        assert (tmp_path / "zoo.cfg").read_text().count(f"clientPort={port}") == 1
        assert "ZooKeeperServer" in server.log_file.read_text()
    assert not server.is_running
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))  # released


def test_embedded_start_fails_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        server = EmbeddedZooKeeper(holder.getsockname()[1], tmp_path)
        with pytest.raises(DiscoveryError, match=r"is not available .*in use"):
            server.start(timeout_s=20)
    assert not server.is_running


def test_embedded_start_reports_the_log_when_the_server_dies(tmp_path: Path) -> None:
    server = EmbeddedZooKeeper(free_port(), tmp_path, classpath=str(tmp_path / "missing.jar"))
    started = time.monotonic()
    with pytest.raises(DiscoveryError, match=r"exited with code 1(.|\n)*ZooKeeperServerMain"):
        server.start(timeout_s=20)
    assert time.monotonic() - started < 15
    assert not server.is_running


def test_run_embedded_zookeeper_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    code = (
        "import logging, sys\n"
        "from kyuubi_py.config.conf import KyuubiConf\n"
        "from kyuubi_py.ha.embedded import run_embedded_zookeeper\n"
        "logging.basicConfig(level=logging.INFO)\n"
        f"conf = KyuubiConf({{'kyuubi.zookeeper.embedded.client.port': '{port}',\n"
        f"    'kyuubi.zookeeper.embedded.data.dir': {str(tmp_path / 'zk')!r}}})\n"
        "sys.exit(run_embedded_zookeeper(conf))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"ZooKeeper is ready at 127.0.0.1:{port}"
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))  # the JVM is gone


@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [1.0, 2 * SESSION_TIMEOUT_S])
def test_registration_survives_a_zookeeper_restart(tmp_path: Path, outage_s: float) -> None:
    # Whether the session outlives a long outage depends on reconnect timing (restored sessions
    # get a fresh timeout), so either outcome is fine as long as the node is back.
    server = EmbeddedZooKeeper(free_port(), tmp_path)
    server.start()
    client = ZooKeeperDiscoveryClient(server.connect_string, SESSION_TIMEOUT_S, 5)
    try:
        client.start()
        registration = client.register_service("/restart/serverUri=h:1;version=1;sequence=", b"x")
        server.stop()
        time.sleep(outage_s)
        server.start()

        def registered() -> bool:
            try:
                return [n.path for n in client.get_service_nodes("/restart")] == [registration.path]
            except DiscoveryError:
                return False

        wait_until(registered, timeout_s=20)
    finally:
        client.stop()
        server.stop()
