"""Get-or-create an engine through ZooKeeper.

1. Look in the engine space for registered engines, newest first.
2. None: take the launch lock (timeout: initialize timeout x 1.1), look again (another gateway may
   have launched one meanwhile), then launch: take a launch permit, spark-submit, and poll the
   space every ``registration_poll_s`` for the node carrying our ref id, while watching the
   process.
   The process exiting fails the launch at once, quoting the end of its log; running out of
   ``kyuubi.session.engine.initialize.timeout`` kills its process group.
3. :meth:`EngineManager.open` connects to the engine found; when the connection is refused the
   engine is dead and its node stale, so the node is deleted and the next engine tried (up to
   ``kyuubi.session.engine.open.max.attempts``): a dead engine's node is never used twice.

The engine found in a space is remembered (no ZooKeeper read per session) until its node is
deleted (a watch) or connecting to it fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import DiscoveryError, EngineLaunchError, KyuubiSQLError
from kyuubi_py.ha.client import DiscoveryClient, ServiceNodeInfo
from kyuubi_py.server.conf import (
    ENGINE_WORK_DIR_ROOT,
    SESSION_ENGINE_LOG_DIR,
    SESSION_ENGINE_OPEN_MAX_ATTEMPTS,
    SESSION_ENGINE_STARTUP_ERROR_MAX_SIZE,
    spark_submit_path,
)
from kyuubi_py.server.engine_ref import EngineRef
from kyuubi_py.server.launcher import (
    EngineLaunchCommand,
    EngineProcess,
    LaunchLimiter,
    redact_text,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Spawn = Callable[[EngineLaunchCommand], EngineProcess]
LOCK_TIMEOUT_FACTOR = 1.1


class EngineUnavailableError(KyuubiSQLError):
    """Connecting to a registered engine failed in a way another attempt may not (a reset
    during the handshake: the engine is stopping, or busy restarting its frontend)."""


class StaleEngineError(EngineUnavailableError):
    """A registered engine refused the connection: it is gone, its node is stale."""


def _no_watch() -> None:
    pass


def launch_failure_message(
    app_name: str, reason: str, lines: list[str], log_path: Path | None, max_size: int
) -> str:
    """The client's error for a failed launch: what happened and the end of the engine log,
    cut from the front to ``max_size`` characters (the last lines say why)."""
    head = f"Failed to launch engine {app_name}: {reason}."
    if not lines:
        return f"{head} The engine log ({log_path}) is empty."
    quoted = "\n".join(lines)
    if len(quoted) > max_size:
        quoted = "..." + quoted[-max_size:]
    return f"{head} Last {len(lines)} lines of its log ({log_path}):\n{quoted}"


class EngineManager:
    """Finds, launches and tracks engines for the gateway's sessions."""

    def __init__(
        self,
        conf: KyuubiConf,
        discovery: DiscoveryClient,
        secret: str,
        ha_addresses: str,
        *,
        limiter: LaunchLimiter,
        spawn: Spawn = EngineProcess,
        poll_interval_s: float = 0.5,
        registration_poll_s: float = 0.1,
    ) -> None:
        self._conf = conf
        self._discovery = discovery
        self._secret = secret
        self._ha_addresses = ha_addresses
        self._limiter = limiter
        self._spawn = spawn
        self._poll_interval_s = poll_interval_s
        # A new user waits for this: every 0.1 s instead of 0.5 s takes ~0.2 s off a cold start
        # on average, for one ZooKeeper read per tick while a launch (a rare event) is pending.
        self._registration_poll_s = registration_poll_s
        self._launched: dict[str, EngineProcess] = {}
        self._lock = threading.Lock()
        #: space -> (its engine, cancels the watch on the engine's node)
        self._known: dict[str, tuple[ServiceNodeInfo, Callable[[], None]]] = {}
        self._known_lock = threading.Lock()

    # -- public --------------------------------------------------------------------------------
    def open(self, ref: EngineRef, conf: KyuubiConf, connect: Callable[[ServiceNodeInfo], T]) -> T:
        """Get or create the engine of ``ref`` and ``connect`` to it; stale engines (connection
        refused, :class:`StaleEngineError`) are deregistered and replaced."""
        attempts = conf.get(SESSION_ENGINE_OPEN_MAX_ATTEMPTS) or 1
        for attempt in range(1, attempts + 1):
            node = self.get_or_create(ref, conf)
            try:
                return connect(node)
            except EngineUnavailableError as exc:
                self.forget(ref.space, node)
                self._give_up_on(node, exc, last=attempt == attempts)
        raise AssertionError("unreachable")

    def _give_up_on(self, node: ServiceNodeInfo, exc: EngineUnavailableError, last: bool) -> None:
        """Delete a stale node; raise ``exc`` after the last attempt, else pause briefly."""
        if isinstance(exc, StaleEngineError):
            log.warning(
                "Engine %s is gone (%s); deleting its node %s", node.address, exc, node.path
            )
            self._discovery.delete(node.path)
        if last:
            raise exc
        log.warning("Engine %s is unavailable (%s); trying again", node.address, exc)
        time.sleep(self._poll_interval_s)

    def get_or_create(self, ref: EngineRef, conf: KyuubiConf) -> ServiceNodeInfo:
        with self._known_lock:
            known = self._known.get(ref.space)
        if known is not None:
            return known[0]
        node = self._get_or_create(ref, conf)
        self._remember(ref.space, node)
        return node

    def _get_or_create(self, ref: EngineRef, conf: KyuubiConf) -> ServiceNodeInfo:
        node = self.find(ref)
        if node is not None:
            return node
        if ref.lock_path is None:
            return self._launch(ref, conf)
        init_timeout = self._init_timeout(conf)
        with self._discovery.lock(ref.lock_path, init_timeout * LOCK_TIMEOUT_FACTOR):
            node = self.find(ref)
            return node if node is not None else self._launch(ref, conf)

    def find(self, ref: EngineRef) -> ServiceNodeInfo | None:
        """The newest engine registered in ``ref``'s space (Kyuubi takes the last one)."""
        nodes = self._discovery.get_service_nodes(ref.space)
        return nodes[-1] if nodes else None

    def _remember(self, space: str, node: ServiceNodeInfo) -> None:
        """Remember ``node`` as ``space``'s engine until its node goes away."""
        with self._known_lock:
            if space in self._known:
                return
            self._known[space] = (node, _no_watch)
        try:
            cancel = self._discovery.watch_deletion(node.path, lambda _: self.forget(space, node))
        except Exception as exc:  # noqa: BLE001 - not remembered: the next session looks again
            log.warning("Cannot watch engine node %s (%s)", node.path, exc)
            self.forget(space, node)
            return
        with self._known_lock:
            known = self._known.get(space)
            if known is not None and known[0] is node:
                self._known[space] = (node, cancel)
                return
        cancel()  # forgotten meanwhile (the node is already gone)

    def forget(self, space: str, node: ServiceNodeInfo | None = None) -> None:
        """Stop using the remembered engine of ``space`` (only if it is ``node``, when given)."""
        with self._known_lock:
            known = self._known.get(space)
            if known is None or (node is not None and known[0].path != node.path):
                return
            del self._known[space]
        known[1]()

    def launched(self) -> list[EngineProcess]:
        with self._lock:
            return list(self._launched.values())

    def stop_launched(self) -> None:
        """Kill every engine this gateway launched that still runs (used when they would be
        unreachable after we stop: an embedded ZooKeeper dies with the gateway)."""
        for process in self.launched():
            if process.alive:
                log.info("Stopping engine %s (pid %s)", process.command.app_name, process.pid)
                process.kill()

    # -- launching -----------------------------------------------------------------------------
    def _init_timeout(self, conf: KyuubiConf) -> float:
        return conf.get(keys.SESSION_ENGINE_INITIALIZE_TIMEOUT) or 180.0

    def _launch(self, ref: EngineRef, conf: KyuubiConf) -> ServiceNodeInfo:
        init_timeout = self._init_timeout(conf)
        self._limiter.acquire(init_timeout)
        try:
            process = self._start(ref, conf)
            return self._wait_for_registration(ref, conf, process, init_timeout)
        finally:
            self._limiter.release()  # registered or failed: the next launch may go

    def _start(self, ref: EngineRef, conf: KyuubiConf) -> EngineProcess:
        work_root = Path(conf.get(ENGINE_WORK_DIR_ROOT) or "engine_work").expanduser()
        command = EngineLaunchCommand.build(
            ref,
            conf,
            spark_submit=spark_submit_path(conf),
            secret=self._secret,
            ha_addresses=self._ha_addresses,
            work_dir=str((work_root / ref.routing_user).absolute()),
        )
        process = self._spawn(command)
        log_dir = Path(conf.get(SESSION_ENGINE_LOG_DIR) or "engine_logs").expanduser()
        process.start(log_dir.absolute() / f"{ref.app_name}.log")
        with self._lock:
            self._forget_exited()
            self._launched[ref.ref_id] = process
        return process

    def _forget_exited(self) -> None:
        for ref_id, process in list(self._launched.items()):
            if not process.alive:
                del self._launched[ref_id]

    def _wait_for_registration(
        self, ref: EngineRef, conf: KyuubiConf, process: EngineProcess, timeout_s: float
    ) -> ServiceNodeInfo:
        deadline = time.monotonic() + timeout_s
        while True:
            node = self._registered(ref)
            if node is not None:
                log.info("Engine %s registered as %s", ref.app_name, node.path)
                return node
            code = process.poll()
            if code is not None:
                process.kill()  # whatever it started must not outlive the failed launch
                raise self._failure(ref, conf, process, f"spark-submit exited with code {code}")
            if time.monotonic() >= deadline:
                process.kill()
                raise self._failure(
                    ref,
                    conf,
                    process,
                    f"it did not register within {timeout_s:g} s; if engines start slowly here, "
                    "raise kyuubi.session.engine.initialize.timeout",
                )
            time.sleep(self._registration_poll_s)

    def _registered(self, ref: EngineRef) -> ServiceNodeInfo | None:
        try:
            nodes = self._discovery.get_service_nodes(ref.space)
        except DiscoveryError as exc:
            log.warning("Looking for engine %s failed: %s", ref.app_name, exc)
            return None
        return next((n for n in reversed(nodes) if n.ref_id == ref.ref_id), None)

    def _failure(
        self, ref: EngineRef, conf: KyuubiConf, process: EngineProcess, reason: str
    ) -> EngineLaunchError:
        lines = process.tail(conf.get(keys.SESSION_ENGINE_STARTUP_MAX_LOG_LINES) or 10)
        max_size = conf.get(SESSION_ENGINE_STARTUP_ERROR_MAX_SIZE) or 8192
        message = launch_failure_message(ref.app_name, reason, lines, process.log_path, max_size)
        log.error("%s", message)
        return EngineLaunchError(redact_text(message, self._secret), "08004")
