"""Opening a gateway session: conf layering and validation, engine routing, engine session.

``server conf → for_user(user) → validated session conf`` gives the session's conf; from it the
engine ref (share level, subdomain, pool member); the engine manager finds or launches the engine;
then an engine session is opened with the client's protocol version and conf.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kyuubi_py import __version__
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import ConfigError, DiscoveryError, KyuubiSQLError
from kyuubi_py.ha import paths
from kyuubi_py.ha.client import DiscoveryClient, ServiceNodeInfo, ServiceRegistration
from kyuubi_py.ha.conf import HA_NAMESPACE
from kyuubi_py.ha.paths import ENGINE_LOCAL_SOCKET_ATTRIBUTE
from kyuubi_py.protocol.handles import SessionHandle
from kyuubi_py.protocol.tcli import ttypes
from kyuubi_py.server.conf import SESSION_ENGINE_LOGIN_TIMEOUT, SESSION_ENGINE_REQUEST_TIMEOUT
from kyuubi_py.server.engine_client import EngineClient, connect_engine
from kyuubi_py.server.engine_manager import EngineManager, EngineUnavailableError
from kyuubi_py.server.engine_ref import (
    EngineRef,
    EngineSpec,
    GroupOf,
    build_engine_ref,
    engine_spec,
    polling_counter_path,
)
from kyuubi_py.server.session import EngineAttachment, GatewaySession
from kyuubi_py.server.session_conf import (
    REFUSED_SQL_STATE,
    SessionConf,
    SessionConfPolicy,
    validate_session_conf,
)

log = logging.getLogger(__name__)

#: Keys the gateway adds to the engine session conf; they win over the client's (which are
#: refused anyway, see session_conf.DENIED_PATTERNS).
CLIENT_IP_KEY = "kyuubi.client.ipAddress"
REAL_USER_KEY = "kyuubi.session.real.user"

NodeAddress = Callable[[], tuple[str, int]]


@dataclass(frozen=True)
class OpenRequest:
    user: str
    client_host: str
    session_conf: SessionConf
    #: The layered conf: server, per-user defaults, session.
    conf: KyuubiConf

    def engine_session_conf(self) -> dict[str, str]:
        conf = self.session_conf.engine_session_conf()
        conf.update({CLIENT_IP_KEY: self.client_host, REAL_USER_KEY: self.user})
        return conf


class SessionRouter:
    def __init__(
        self,
        server_conf: KyuubiConf,
        engines: EngineManager,
        discovery: DiscoveryClient,
        *,
        secret: str,
        group_of: GroupOf,
        owner: str,
        node_address: NodeAddress,
    ) -> None:
        self._server_conf = server_conf
        self._engines = engines
        self._discovery = discovery
        self._secret = secret
        self._group_of = group_of
        self._owner = owner
        self._node_address = node_address
        self.policy = SessionConfPolicy.from_conf(server_conf)
        self.namespace = server_conf.get(HA_NAMESPACE) or "kyuubi"

    # -- conf ----------------------------------------------------------------------------------
    def prepare(self, user: str, client_host: str, configuration: Mapping[str, str]) -> OpenRequest:
        session_conf = validate_session_conf(configuration, self.policy, user)
        try:
            conf = self._server_conf.for_user(user).with_overlay(session_conf.launch_overlay())
        except ConfigError as exc:
            raise KyuubiSQLError(str(exc), REFUSED_SQL_STATE) from None
        return OpenRequest(user, client_host, session_conf, conf)

    # -- routing -------------------------------------------------------------------------------
    def engine_ref(self, request: OpenRequest) -> EngineRef:
        spec = engine_spec(request.conf, request.user, self._group_of, self._owner)
        return build_engine_ref(
            spec,
            request.user,
            self.namespace,
            counter=lambda: self._discovery.get_and_increment(
                polling_counter_path(spec, self.namespace)
            ),
            session_counts=lambda members: self._session_counts(spec, members),
        )

    def _session_counts(self, spec: EngineSpec, members: Sequence[str]) -> list[int]:
        try:
            return [
                len(self._discovery.get_service_nodes(self._sessions_space(spec, member)))
                for member in members
            ]
        except DiscoveryError as exc:
            log.warning("Cannot count pool sessions (%s); picking a member at random", exc)
            return [0] * len(members)

    def _sessions_space(self, spec: EngineSpec, member: str) -> str:
        return paths.sessions_space(
            self.namespace, __version__, spec.share_level, spec.routing_user, member
        )

    def _register_pooled_session(self, ref: EngineRef) -> ServiceRegistration | None:
        """The ephemeral node that counts this session for LEAST_SESSIONS."""
        if not ref.pooled:
            return None
        host, port = self._node_address()
        prefix = paths.engine_node_prefix(
            ref.sessions_space, host, port, __version__, str(uuid.uuid4())
        )
        return self._discovery.register_service(prefix, f"{host}:{port}".encode())

    # -- attaching -----------------------------------------------------------------------------
    def attach(self, request: OpenRequest, session: GatewaySession) -> EngineAttachment:
        """Route ``session`` to its engine and open the engine session."""
        ref = self.engine_ref(request)
        log.info("Session of %s goes to engine space %s", request.user, ref.space)
        registration = self._register_pooled_session(ref)
        try:
            client, resp = self._engines.open(
                ref, request.conf, lambda node: self._open_on(node, request, session)
            )
        except BaseException:
            if registration is not None:
                registration.deregister()
            raise
        return EngineAttachment(
            client,
            SessionHandle.from_thrift(resp.sessionHandle),
            resp.serverProtocolVersion,
            dict(resp.configuration or {}),
            release=registration.deregister if registration is not None else lambda: None,
        )

    def _open_on(
        self, node: ServiceNodeInfo, request: OpenRequest, session: GatewaySession
    ) -> tuple[EngineClient, ttypes.TOpenSessionResp]:
        conf = request.conf
        request_timeout = conf.get(SESSION_ENGINE_REQUEST_TIMEOUT) or 0.0
        client = connect_engine(
            node.host,
            node.port,
            user=request.user,
            secret=self._secret,
            connect_timeout_s=conf.get(SESSION_ENGINE_LOGIN_TIMEOUT) or 15.0,
            timeout_s=request_timeout if request_timeout > 0 else None,
            local_socket=node.attributes.get(ENGINE_LOCAL_SOCKET_ATTRIBUTE),
        )
        try:
            resp = client.open_session(
                session.protocol_version, request.user, request.engine_session_conf()
            )
        except KyuubiSQLError as exc:
            client.close()
            if client.broken:
                # The engine hung up while we opened the session: it is stopping or dead; the
                # next attempt finds out which (refused: its node is deleted).
                raise EngineUnavailableError(str(exc), exc.sql_state) from None
            raise
        return client, resp
