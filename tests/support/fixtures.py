"""Session-scoped services shared by every test directory (registered by tests/conftest.py):
a real ZooKeeper, a private slapd, one real engine, and gateways.

Gateways, in-process, on the session's ZooKeeper:

- ``gateway`` (session): real Spark engines (``spark.master=local[1]``), auth NONE (SASL PLAIN
  with any password, and NOSASL). An object with ``.host`` and ``.port`` -- what the client
  conformance suite runs through -- plus ``.server`` (the :class:`KyuubiServer`), ``.namespace``,
  ``.zookeeper``, ``.submit`` (the recording spark-submit) and ``.connect(user)`` (pyhive).
- ``shared_gateway`` (session): the same at SERVER share level, one real engine for all users.
- ``fake_gateway`` (session): the same gateway code, but spark-submit starts the fake engine of
  ``fake_engine.py`` (about 1 s and 40 MB instead of 10 s and 450 MB): routing, pools, faults.
- ``start_gateway`` (function): a factory for gateways with settings of their own (LDAP,
  limits, a second gateway, a restart); everything it started is stopped after the test.

Engines are shared: ``gateway`` launches one real engine per user for the whole session; tests
that need other share levels use ``fake_gateway``. Engines a fixture launched are killed when it
ends (they would otherwise live on until their idle timeout).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest
from kazoo.client import KazooClient
from support.engine_process import EngineProcess, start_engine
from support.fake_submit import FakeSubmit
from support.gateway_support import (
    GatewayUnderTest,
    StartGateway,
    base_settings,
    install_submit,
    start,
)
from support.ldap_server import SlapdError, SlapdServer

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


# -- gateways ----------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _no_inherited_engine_secret() -> None:
    # The gateways must take the secret from ZooKeeper, shared per namespace.
    os.environ.pop("KYUUBI_ENGINE_SECRET", None)


@pytest.fixture(scope="session")
def gateway(zookeeper: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayUnderTest]:
    work = tmp_path_factory.mktemp("gateway")
    submit = install_submit(work / "submit", "real")
    under_test = start(
        base_settings(work, zookeeper, "gw_real", submit), "gw_real", zookeeper, submit
    )
    yield under_test
    under_test.stop()


@pytest.fixture(scope="session")
def shared_gateway(
    zookeeper: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayUnderTest]:
    """Like ``gateway`` but at SERVER share level: one real engine for every user (each session
    still has its own Spark session and ``current_user()``). For suites that connect as many
    users, where one engine per user would cost 450 MB each."""
    work = tmp_path_factory.mktemp("shared_gateway")
    submit = install_submit(work / "submit", "real")
    settings = base_settings(work, zookeeper, "gw_shared", submit)
    settings["kyuubi.engine.share.level"] = "SERVER"
    under_test = start(settings, "gw_shared", zookeeper, submit)
    yield under_test
    under_test.stop()


@pytest.fixture(scope="session")
def fake_gateway(
    zookeeper: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayUnderTest]:
    work = tmp_path_factory.mktemp("fake_gateway")
    submit = install_submit(work / "submit", "fake")
    settings = base_settings(work, zookeeper, "gw_fake", submit)
    settings["kyuubi.session.engine.initialize.timeout"] = "PT30S"
    under_test = start(settings, "gw_fake", zookeeper, submit)
    yield under_test
    under_test.stop()


@pytest.fixture
def start_gateway(
    zookeeper: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartGateway]:
    """``start_gateway(namespace, mode="fake", submit=None, **settings)``: a gateway of its own.
    ``submit`` reuses another gateway's spark-submit (and so its records and mode)."""
    started: list[GatewayUnderTest] = []

    def start_one(
        namespace: str, mode: str = "fake", submit: FakeSubmit | None = None, **settings: str
    ) -> GatewayUnderTest:
        work = tmp_path_factory.mktemp(f"gw_{namespace}")
        submit = submit or install_submit(work / "submit", mode)
        conf = base_settings(work, zookeeper, namespace, submit)
        conf["kyuubi.session.engine.initialize.timeout"] = "PT30S" if mode == "fake" else "PT3M"
        conf.update(settings)
        under_test = start(conf, namespace, zookeeper, submit)
        started.append(under_test)
        return under_test

    yield start_one
    for under_test in reversed(started):
        under_test.stop()
