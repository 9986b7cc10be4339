"""Service lifecycle: LATENT -> INITIALIZED -> STARTED -> STOPPED, asserted; composites start
their children in order and stop them in reverse (Kyuubi's AbstractService/CompositeService)."""

from __future__ import annotations

import enum
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiError

log = logging.getLogger(__name__)


class ServiceState(enum.Enum):
    LATENT = "LATENT"
    INITIALIZED = "INITIALIZED"
    STARTED = "STARTED"
    STOPPED = "STOPPED"


class Service:
    def __init__(self, name: str) -> None:
        self.name = name
        self.state = ServiceState.LATENT
        self.conf = KyuubiConf()

    def _ensure(self, expected: ServiceState) -> None:
        if self.state is not expected:
            raise KyuubiError(f"Service[{self.name}] is {self.state.name}, not {expected.name}")

    def initialize(self, conf: KyuubiConf) -> None:
        self._ensure(ServiceState.LATENT)
        self.conf = conf
        self.state = ServiceState.INITIALIZED
        log.debug("Service[%s] is initialized.", self.name)

    def start(self) -> None:
        self._ensure(ServiceState.INITIALIZED)
        self.state = ServiceState.STARTED
        log.info("Service[%s] is started.", self.name)

    def stop(self) -> None:
        """Must complete whatever the current state."""
        if self.state is not ServiceState.STOPPED:
            self.state = ServiceState.STOPPED
            log.info("Service[%s] is stopped.", self.name)


class CompositeService(Service):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._children: list[Service] = []

    def add_service(self, service: Service) -> None:
        self._children.append(service)

    def initialize(self, conf: KyuubiConf) -> None:
        for child in self._children:
            child.initialize(conf)
        super().initialize(conf)

    def start(self) -> None:
        started: list[Service] = []
        try:
            for child in self._children:
                child.start()
                started.append(child)
        except BaseException:
            for child in reversed(started):
                _stop_quietly(child)
            raise
        super().start()

    def stop(self) -> None:
        for child in reversed(self._children):
            _stop_quietly(child)
        super().stop()


def _stop_quietly(service: Service) -> None:
    try:
        service.stop()
    except Exception:  # noqa: BLE001 - one child failing to stop must not keep others running
        log.exception("Error stopping service %s", service.name)


@contextmanager
def stop_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``on_signal(signum)`` while the block runs, then restore the
    previous handlers. Main thread only (Python delivers signals there)."""

    def handle(signum: int, _frame: object) -> None:
        on_signal(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
