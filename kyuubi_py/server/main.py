"""``kyuubi-py server``: the gateway process.

Start order: ZooKeeper (embedded when ``kyuubi.ha.addresses`` is empty), the discovery client,
the engine secret, the backend (sessions, routing, engines), the Thrift frontend, and last the
registration under ``/<namespace>`` that makes clients (Hive JDBC discovery) find us. Stop runs
in reverse. Engines this gateway launched keep running on an external ZooKeeper, where any
gateway finds them again; with the embedded ZooKeeper they would be unreachable after we stop,
so they are stopped too.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from kyuubi_py import __version__
from kyuubi_py.auth.provider import PasswdAuthenticationProvider
from kyuubi_py.auth.types import AuthPolicy, build_provider, make_authenticator
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiError
from kyuubi_py.ha import paths
from kyuubi_py.ha.client import ServiceRegistration
from kyuubi_py.ha.conf import HA_ADDRESSES, HA_NAMESPACE, HA_ZK_CONN_TIMEOUT, HA_ZK_SESSION_TIMEOUT
from kyuubi_py.ha.embedded import EmbeddedZooKeeper, embedded_zookeeper_from_conf
from kyuubi_py.ha.zookeeper import ZooKeeperDiscoveryClient
from kyuubi_py.server.backend import GatewayBackendService
from kyuubi_py.server.conf import SERVER_LIMIT_ENGINE_STARTUP
from kyuubi_py.server.engine_manager import EngineManager
from kyuubi_py.server.engine_ref import make_group_of, server_user
from kyuubi_py.server.fast_relay import gateway_frontend_factory
from kyuubi_py.server.launcher import LaunchLimiter
from kyuubi_py.server.router import SessionRouter
from kyuubi_py.server.secret import resolve_engine_secret
from kyuubi_py.service.lifecycle import Service, stop_signals
from kyuubi_py.service.thrift_service import ThriftFrontendService

log = logging.getLogger(__name__)

_WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def advertised_host(conf: KyuubiConf, bind_host: str) -> str:
    """``kyuubi.frontend.advertised.host``, else the bind host, else (wildcard) the host name."""
    configured = conf.get(keys.FRONTEND_ADVERTISED_HOST)
    if configured:
        return configured
    return socket.getfqdn() if bind_host in _WILDCARD_HOSTS else bind_host


class KyuubiServer(Service):
    def __init__(self, name: str = "KyuubiServer") -> None:
        super().__init__(name)
        self.zookeeper: EmbeddedZooKeeper | None = None
        self.discovery: ZooKeeperDiscoveryClient | None = None
        self.engines: EngineManager | None = None
        self.backend: GatewayBackendService | None = None
        self.frontend: ThriftFrontendService | None = None
        self.registration: ServiceRegistration | None = None
        self.ha_addresses = ""
        self.auth_provider: PasswdAuthenticationProvider | None = None
        #: Set when another client deleted our registration (a decommission, as in Kyuubi).
        self.decommissioned = threading.Event()

    # -- addresses -----------------------------------------------------------------------------
    @property
    def host(self) -> str:
        assert self.frontend is not None
        return advertised_host(self.conf, self.frontend.host)

    @property
    def port(self) -> int:
        assert self.frontend is not None
        return self.frontend.port

    @property
    def namespace(self) -> str:
        return self.conf.get(HA_NAMESPACE) or "kyuubi"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self.auth_provider = build_provider(self.conf, AuthPolicy.from_conf(self.conf))
            self._start_discovery()
            self._start_backend()
            self._start_frontend()
            self._register()
        except BaseException:
            self.stop()
            raise
        super().start()

    def _start_discovery(self) -> None:
        self.ha_addresses = (self.conf.get(HA_ADDRESSES) or "").strip()
        if not self.ha_addresses:
            self.zookeeper = embedded_zookeeper_from_conf(self.conf)
            self.zookeeper.start()
            self.ha_addresses = self.zookeeper.connect_string
        self.discovery = ZooKeeperDiscoveryClient(
            self.ha_addresses,
            session_timeout_s=self.conf.get(HA_ZK_SESSION_TIMEOUT) or 60.0,
            connection_timeout_s=self.conf.get(HA_ZK_CONN_TIMEOUT) or 15.0,
        )
        self.discovery.start()

    def _start_backend(self) -> None:
        assert self.discovery is not None
        conf = self.conf
        secret = resolve_engine_secret(conf, self.discovery)
        limiter = LaunchLimiter(conf.get(SERVER_LIMIT_ENGINE_STARTUP) or 2)
        self.engines = EngineManager(
            conf, self.discovery, secret, self.ha_addresses, limiter=limiter
        )
        router = SessionRouter(
            conf,
            self.engines,
            self.discovery,
            secret=secret,
            group_of=make_group_of(self.auth_provider),
            owner=server_user(),
            node_address=lambda: (self.host, self.port),
        )
        self.backend = GatewayBackendService(router)
        self.backend.initialize(conf)
        self.backend.start()

    def _start_frontend(self) -> None:
        assert self.backend is not None
        policy = AuthPolicy.from_conf(self.conf)
        provider = self.auth_provider
        authenticate = None if provider is None else make_authenticator(provider)
        self.frontend = ThriftFrontendService(
            self.backend,
            authenticate,
            policy.allow_nosasl,
            frontend_factory=gateway_frontend_factory(self.backend.sessions),
        )
        self.frontend.initialize(self.conf)
        self.frontend.start()

    def _register(self) -> None:
        assert self.discovery is not None
        prefix = paths.server_node_prefix(self.namespace, self.host, self.port, __version__)
        data = f"{self.host}:{self.port}".encode()
        self.registration = self.discovery.register_service(
            prefix, data, on_deleted=self._on_deregistered
        )

    def _on_deregistered(self) -> None:
        log.warning(
            "This gateway's ZooKeeper node was deleted: no new clients will find it; "
            "stopping once its sessions are closed"
        )
        self.decommissioned.set()

    def stop(self) -> None:
        if self.registration is not None:
            self.registration.deregister()
            self.registration = None
        for service in (self.frontend, self.backend):
            if service is not None:
                _quietly(service.stop, service.name)
        if self.engines is not None and self.zookeeper is not None:
            self.engines.stop_launched()
        if self.discovery is not None:
            _quietly(self.discovery.stop, "ZooKeeper client")
        if self.zookeeper is not None:
            _quietly(self.zookeeper.stop, "embedded ZooKeeper")
        super().stop()

    @property
    def drained(self) -> bool:
        """Decommissioned and without sessions: time to exit."""
        sessions = 0 if self.backend is None else self.backend.sessions.session_count
        return self.decommissioned.is_set() and sessions == 0


def _quietly(action: Callable[[], None], what: str) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - stopping the rest matters more
        log.exception("Error stopping %s", what)


def run(conf: KyuubiConf) -> int:
    """Run the gateway until SIGINT or SIGTERM (or a decommission); the exit status. Call on the
    main thread: it installs signal handlers."""
    stop_requested = threading.Event()

    def request_stop(signum: int) -> None:
        log.info("Received signal %d, stopping", signum)
        stop_requested.set()

    server = KyuubiServer()
    try:
        with stop_signals(request_stop):
            server.initialize(conf)
            server.start()
            log.info("kyuubi_py gateway listening on %s:%d", server.host, server.port)
            while not stop_requested.wait(1.0) and not server.drained:
                pass
            return 0
    except KyuubiError as exc:
        log.error("The gateway failed: %s", exc)
        return 1
    finally:
        server.stop()
