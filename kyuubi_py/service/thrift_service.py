"""The HiveServer2 binary frontend as a service: the socket server from ``transport/`` serving one
:class:`ThriftFrontend` per connection over a :class:`BackendService`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.service.backend import BackendService, Caller
from kyuubi_py.service.frontend import ThriftFrontend
from kyuubi_py.service.lifecycle import Service
from kyuubi_py.transport.server import ConnectionContext, ThriftServer

log = logging.getLogger(__name__)

Authenticate = Callable[[str, str], str]
#: Builds the handler of one connection; the gateway adds its frame relay this way.
FrontendFactory = Callable[[BackendService, Caller], ThriftFrontend]


class ThriftFrontendService(Service):
    """Binds ``kyuubi.frontend.thrift.binary.bind.host``/``.port`` and serves the backend.

    ``authenticate`` checks SASL PLAIN credentials (None: SASL refused); ``allow_nosasl`` lets
    raw-binary clients in; ``frontend_factory`` builds each connection's handler.
    """

    def __init__(
        self,
        backend: BackendService,
        authenticate: Authenticate | None,
        allow_nosasl: bool,
        name: str = "ThriftBinaryFrontend",
        frontend_factory: FrontendFactory = ThriftFrontend,
        local_socket_name: str | None = None,
    ) -> None:
        super().__init__(name)
        self._local_socket_name = local_socket_name
        self._backend = backend
        self._authenticate = authenticate
        self._allow_nosasl = allow_nosasl
        self._frontend_factory = frontend_factory
        self._server: ThriftServer | None = None

    @property
    def host(self) -> str:
        return self.conf.get(keys.FRONTEND_THRIFT_BINARY_BIND_HOST) or "127.0.0.1"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._server.port

    @property
    def local_socket_name(self) -> str | None:
        """The abstract Unix socket also served (Linux), once started."""
        return self._server.local_socket_name if self._server is not None else None

    def _handler(self, ctx: ConnectionContext) -> ThriftFrontend:
        caller = Caller(ctx.connection_id, ctx.user, ctx.client_host, ctx.transport)
        frontend = self._frontend_factory(self._backend, caller)
        ctx.add_close_callback(frontend.connection_closed)
        return frontend

    def start(self) -> None:
        conf: KyuubiConf = self.conf
        self._server = ThriftServer(
            host=self.host,
            port=conf.get(keys.FRONTEND_THRIFT_BINARY_BIND_PORT),
            handler_factory=self._handler,
            authenticate=self._authenticate,
            allow_nosasl=self._allow_nosasl,
            max_message_size=conf.get(keys.FRONTEND_THRIFT_MAX_MESSAGE_SIZE),
            max_workers=conf.get(keys.FRONTEND_THRIFT_MAX_WORKER_THREADS),
            login_timeout_s=conf.get(keys.FRONTEND_LOGIN_TIMEOUT),
            idle_thread_keepalive_s=conf.get(keys.FRONTEND_THRIFT_WORKER_KEEPALIVE_TIME),
            local_socket_name=self._local_socket_name,
            name=self.name,
        )
        self._server.start()
        log.info("%s listening on %s:%d", self.name, self.host, self._server.port)
        super().start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout_s=10.0)
        super().stop()
