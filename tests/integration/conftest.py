"""Shared fixtures of the integration tests: real services started once per test session."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from kazoo.client import KazooClient

from kyuubi_py.ha.embedded import EmbeddedZooKeeper
from kyuubi_py.ha.zookeeper import ZooKeeperDiscoveryClient


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it, so parallel runs do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def zookeeper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedZooKeeper]:
    """A real ZooKeeper (from the pyspark jars) for the whole session. Tick 500 ms, sessions of
    1-120 s allowed, so tests can use short session timeouts. Its log is zookeeper.log in its
    data dir."""
    server = EmbeddedZooKeeper(free_port(), tmp_path_factory.mktemp("zookeeper"))
    server.start(timeout_s=60)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def zookeeper(zookeeper_server: EmbeddedZooKeeper) -> str:
    """The connect string (``127.0.0.1:<port>``) of the session's ZooKeeper. Use a namespace of
    your own in each test: the server is shared."""
    return zookeeper_server.connect_string


@pytest.fixture(scope="session")
def expire_zookeeper_session(zookeeper: str) -> Callable[[ZooKeeperDiscoveryClient], None]:
    """Expire a client's session on the server, deterministically: a second client attaches to
    the session (same id and password) and closes it. The victim then goes SUSPENDED, LOST and
    CONNECTED with a new session, and its ephemeral nodes are gone."""

    def expire(client: ZooKeeperDiscoveryClient) -> None:
        assert client.client_id is not None, "the client is not connected"
        hijacker = KazooClient(hosts=zookeeper, client_id=client.client_id)
        hijacker.start(timeout=10)
        hijacker.stop()
        hijacker.close()

    return expire


# -- LDAP: a private slapd (helper: ldap_server.py) ----------------------------------------------
from ldap_server import SlapdError, SlapdServer  # noqa: E402  (kept with its fixture)


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    """A private OpenLDAP slapd for the whole session: ``.url``, ``.base_dn``, ``.bind_dn`` /
    ``.bind_password``, ``.users`` (uid -> password), ``.user_dn(uid)``, ``.groups``,
    ``.set_bind_anon_dn(bool)``, ``.pause()`` / ``.resume()``. A test that changes it must
    restore it. Fails (never skips) when OpenLDAP is not installed."""
    try:
        server = SlapdServer(tmp_path_factory.mktemp("slapd")).start()
    except SlapdError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


# -- the Spark SQL engine: one real engine subprocess (helper: engine_process.py) --------------
from engine_process import EngineProcess, start_engine  # noqa: E402  (kept with its fixture)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """ONE real engine for the whole session (local[2], UI off, 127.0.0.1, ephemeral port,
    authentication NONE: pyhive's SASL PLAIN and impyla's NOSASL both work, any password).
    ``.host``, ``.port``, ``.pid``, ``.log_text()``. Never stopped by an idle timeout; SIGTERM
    at the end of the session. Tests must not break it (use a session of their own)."""
    log_path = tmp_path_factory.mktemp("engine") / "engine.log"
    process = start_engine(log_path, {"kyuubi.session.engine.idle.timeout": "0"})
    yield process
    process.stop()
