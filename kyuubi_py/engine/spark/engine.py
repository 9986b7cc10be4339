"""The Spark SQL engine: one SparkSession serving HiveServer2 clients.

- Frontend: the shared Thrift binary frontend on ``kyuubi.frontend.thrift.binary.bind.host`` /
  ``.port`` (engine defaults: 127.0.0.1 and an ephemeral port).
- Authentication: with an engine secret (env ``KYUUBI_ENGINE_SECRET`` or the file
  ``kyuubi.engine.secret.file``; never the command line) only SASL PLAIN clients presenting it
  as their password get in -- that is the gateway. Otherwise ``kyuubi.authentication``
  (default NONE: SASL PLAIN with any password, and NOSASL).
- Discovery: when ``kyuubi.ha.addresses`` is set, an ephemeral sequential node under the engine
  space of its user, share level and subdomain, named with ``refId=kyuubi.engine.ref.id`` and
  holding ``host:port``; it is re-created after a ZooKeeper session expiry.
- Lifetime: stops by itself after ``kyuubi.session.engine.idle.timeout`` without sessions
  (CONNECTION share level: when its session closes), when its node is deleted by someone else
  (decommission, once its sessions are gone), and on SIGTERM/SIGINT (see ``main.py``).
  Stopping is graceful: deregister, close sessions, stop the frontend, stop Spark.
"""

from __future__ import annotations

import getpass
import hmac
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pyspark.sql import SparkSession

import kyuubi_py
from kyuubi_py.auth.provider import LOGIN_FAILED, validate_user_name
from kyuubi_py.auth.types import Authenticator, AuthPolicy, build_authenticator
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf, read_secret_file
from kyuubi_py.engine.spark.backend import SparkSQLBackendService
from kyuubi_py.errors import AuthenticationError
from kyuubi_py.ha.client import ServiceRegistration
from kyuubi_py.ha.conf import HA_ADDRESSES, HA_NAMESPACE, HA_ZK_CONN_TIMEOUT, HA_ZK_SESSION_TIMEOUT
from kyuubi_py.ha.paths import ENGINE_LOCAL_SOCKET_ATTRIBUTE, engine_node_prefix, engine_space
from kyuubi_py.ha.zookeeper import ZooKeeperDiscoveryClient
from kyuubi_py.service.lifecycle import Service, ServiceState
from kyuubi_py.service.thrift_service import ThriftFrontendService

log = logging.getLogger(__name__)

DEFAULT_SUBDOMAIN = "default"
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def _quietly(action: Callable[[], None], what: str) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - stopping the rest matters more
        log.exception("Error %s", what)


def read_engine_secret(conf: KyuubiConf) -> str | None:
    """The secret from ``KYUUBI_ENGINE_SECRET`` (removed from the environment, so Spark's
    Python workers running user code do not inherit it) or ``kyuubi.engine.secret.file``."""
    from_env = os.environ.pop(keys.ENGINE_SECRET_ENV, "").strip()
    if from_env:
        return from_env
    path = conf.get(keys.ENGINE_SECRET_FILE)
    if not path:
        return None
    return read_secret_file(path, keys.ENGINE_SECRET_FILE.key)


def secret_authenticator(secret: str) -> Authenticator:
    """SASL PLAIN check: the password must be the engine secret (compared in constant time)."""
    expected = secret.encode("utf-8")

    def authenticate(user: str, password: str) -> str:
        validate_user_name(user)
        if not hmac.compare_digest(password.encode("utf-8", "surrogatepass"), expected):
            log.warning("Refused a client of user %r: wrong engine secret", user)
            raise AuthenticationError(LOGIN_FAILED)
        return user

    return authenticate


def build_auth(conf: KyuubiConf) -> tuple[Authenticator | None, bool]:
    """``(SASL PLAIN check, NOSASL allowed)`` of the engine's frontend."""
    secret = read_engine_secret(conf)
    if secret is not None:
        log.info("Engine secret set: only clients presenting it are served")
        return secret_authenticator(secret), False
    policy = AuthPolicy.from_conf(conf)
    return build_authenticator(conf), policy.allow_nosasl


def engine_conf(conf: KyuubiConf) -> KyuubiConf:
    """``conf`` with the engine's defaults: an ephemeral port unless one is configured."""
    result = conf.copy()
    port_keys = (
        keys.FRONTEND_THRIFT_BINARY_BIND_PORT.key,
        *keys.FRONTEND_THRIFT_BINARY_BIND_PORT.alternatives,
    )
    if not any(key in result for key in port_keys):
        result.set(keys.FRONTEND_THRIFT_BINARY_BIND_PORT.key, "0")
    return result


class SparkSQLEngine(Service):
    def __init__(self, spark: SparkSession, name: str = "SparkSQLEngine") -> None:
        super().__init__(name)
        self.spark = spark
        self.backend = SparkSQLBackendService(spark)
        self.frontend: ThriftFrontendService | None = None
        self.discovery: ZooKeeperDiscoveryClient | None = None
        self.registration: ServiceRegistration | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._draining = threading.Event()
        self._checker: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def initialize(self, conf: KyuubiConf) -> None:
        conf = engine_conf(conf)
        authenticate, allow_nosasl = build_auth(conf)
        self.frontend = ThriftFrontendService(
            self.backend,
            authenticate,
            allow_nosasl,
            name="EngineThriftFrontend",
            # Random, never the pid: an abstract name is per network namespace, and a gateway
            # on another host must not find some other engine of its own host under it.
            local_socket_name=f"kyuubi_py-engine-{uuid.uuid4().hex}",
        )
        self.backend.initialize(conf)
        self.frontend.initialize(conf)
        super().initialize(conf)

    def start(self) -> None:
        assert self.frontend is not None, "initialize first"
        self.backend.start()
        self.frontend.start()
        super().start()
        try:
            self._register()
        except BaseException:
            self.stop()
            raise
        self._checker = threading.Thread(
            target=self._check_loop, name="kyuubi-engine-idle", daemon=True
        )
        self._checker.start()

    @property
    def host(self) -> str:
        assert self.frontend is not None
        return self.frontend.host

    @property
    def port(self) -> int:
        assert self.frontend is not None
        return self.frontend.port

    @property
    def advertised_host(self) -> str:
        host = self.conf.get(keys.FRONTEND_ADVERTISED_HOST) or self.host
        return socket.getfqdn() if host in _WILDCARD_HOSTS else host

    def stop(self) -> None:
        """Graceful and idempotent: deregister, close sessions, stop serving, stop Spark. Every
        step runs even if one before it fails (e.g. the JVM is already gone)."""
        with self._stop_lock:
            if self.state is ServiceState.STOPPED:
                return
            log.info("Stopping the engine")
            _quietly(self._deregister, "deregistering")
            _quietly(self.backend.sessions.close_all, "closing sessions")
            if self.frontend is not None:
                _quietly(self.frontend.stop, "stopping the frontend")
            _quietly(self.backend.stop, "stopping the backend")
            if self.discovery is not None:
                _quietly(self.discovery.stop, "closing the ZooKeeper session")
            if self._spark_alive():
                _quietly(self.spark.stop, "stopping Spark")
            super().stop()
            self._stopped.set()

    def request_stop(self, reason: str) -> None:
        """Stop from any thread (signal handler, ZooKeeper callback) without blocking it."""
        log.info("Engine stop requested: %s", reason)
        threading.Thread(target=self.stop, name="kyuubi-engine-stop", daemon=True).start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the engine has stopped; ``False`` on timeout."""
        return self._stopped.wait(timeout_s)

    # -- discovery -----------------------------------------------------------------------------
    def _register(self) -> None:
        addresses = self.conf.get(HA_ADDRESSES)
        if not addresses:
            return
        self.discovery = ZooKeeperDiscoveryClient(
            addresses,
            self.conf.get(HA_ZK_SESSION_TIMEOUT) or 60.0,
            self.conf.get(HA_ZK_CONN_TIMEOUT) or 15.0,
        )
        self.discovery.start()
        prefix = engine_node_prefix(
            self.engine_space(),
            self.advertised_host,
            self.port,
            kyuubi_py.__version__,
            self.ref_id,
            self._attributes(),
        )
        data = f"{self.advertised_host}:{self.port}".encode()
        self.registration = self.discovery.register_service(
            prefix, data, on_deleted=self._on_deregistered
        )
        log.info("Registered in ZooKeeper as %s", self.registration.path)

    @property
    def ref_id(self) -> str:
        ref_id = self.conf.get(keys.ENGINE_REF_ID)
        if not ref_id:
            ref_id = str(uuid.uuid4())
            self.conf.set(keys.ENGINE_REF_ID.key, ref_id)
        return ref_id

    @property
    def share_level(self) -> str:
        return (self.conf.get(keys.ENGINE_SHARE_LEVEL) or "USER").upper()

    def engine_space(self) -> str:
        user = self.conf.get(keys.ENGINE_USER) or getpass.getuser()
        subdomain = self.conf.get(keys.ENGINE_SHARE_LEVEL_SUBDOMAIN) or DEFAULT_SUBDOMAIN
        if self.share_level == "CONNECTION":
            subdomain = self.ref_id
        namespace = self.conf.get(HA_NAMESPACE) or "kyuubi"
        return engine_space(namespace, kyuubi_py.__version__, self.share_level, user, subdomain)

    def _attributes(self) -> dict[str, str]:
        attributes = {"kyuubi.engine.id": str(self.spark.sparkContext.applicationId)}
        ui = self.spark.sparkContext.uiWebUrl
        if ui:
            attributes["kyuubi.engine.url"] = ui.split("://", 1)[-1]
        local_socket = self.frontend.local_socket_name if self.frontend else None
        if local_socket:
            attributes[ENGINE_LOCAL_SOCKET_ATTRIBUTE] = local_socket
        return attributes

    def _deregister(self) -> None:
        registration, self.registration = self.registration, None
        if registration is not None:
            registration.deregister()
            log.info("Deregistered %s", registration.path)

    def _on_deregistered(self) -> None:
        # Someone deleted our node (kyuubi-ctl delete engine): gateways no longer find us; stop
        # once the current sessions are gone.
        log.warning("The engine's ZooKeeper node was deleted: draining")
        self.registration = None
        self._draining.set()

    # -- idle ----------------------------------------------------------------------------------
    def _spark_alive(self) -> bool:
        """Whether the SparkContext still runs (it stops when its JVM dies, e.g. spark-submit
        was killed, or when someone stops the application)."""
        try:
            jsc: Any = self.spark.sparkContext._jsc
            return jsc is not None and not jsc.sc().isStopped()
        except Exception:  # noqa: BLE001 - py4j errors: the JVM is gone
            return False

    def stop_reason(self) -> str | None:
        """Why the engine should stop now, or ``None``."""
        if not self._spark_alive():
            return "the Spark application is gone"
        sessions = self.backend.sessions
        idle_since = sessions.idle_since()
        if idle_since is None:
            return None
        if self._draining.is_set():
            return "deregistered and no session left"
        if self.share_level == "CONNECTION" and sessions.opened_count > 0:
            return "its CONNECTION-level session closed"
        timeout = self.conf.get(keys.SESSION_ENGINE_IDLE_TIMEOUT) or 0.0
        idle_for = sessions.clock() - idle_since
        if 0 < timeout <= idle_for:
            return f"no session for {idle_for:.0f}s (kyuubi.session.engine.idle.timeout)"
        return None

    def _check_loop(self) -> None:
        interval = max(0.1, self.conf.get(keys.SESSION_ENGINE_CHECK_INTERVAL) or 60.0)
        while not self._stopped.wait(interval):
            reason = self.stop_reason()
            if reason is not None:
                self.request_stop(reason)
                return
