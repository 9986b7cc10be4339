"""The ZooKeeper :class:`~kyuubi_py.ha.client.DiscoveryClient`, on kazoo (the only kazoo importer).

kazoo keeps neither ephemeral nodes nor watches across a session expiry, and drops its local
watches on any disconnection. So the client remembers its registrations and deletion watches and
restores them on the first CONNECTED after an interruption. That work runs on one background
thread, because kazoo's state listeners and watch callbacks run on its event thread and must not
block or call ZooKeeper.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionLoss,
    KazooException,
    LockTimeout,
    NodeExistsError,
    NoNodeError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, KazooState

from kyuubi_py.errors import DiscoveryError
from kyuubi_py.ha.client import ServiceNodeInfo
from kyuubi_py.ha.paths import parse_node_name

log = logging.getLogger(__name__)

# kazoo's default reconnect backoff grows to an hour; after an outage we want to be back in
# seconds, before the session times out if possible.
_CONNECTION_RETRY = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 2.0}
# Idempotent calls ride out a brief connection loss without hanging their caller.
_COMMAND_RETRY = {"max_tries": 5, "delay": 0.1, "backoff": 2, "max_delay": 1.0}


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except KazooException as exc:
        raise DiscoveryError(f"ZooKeeper {what} failed: {type(exc).__name__} {exc}") from exc


def _session_of(zk: Any) -> int:
    client_id = zk.client_id  # None between sessions
    if client_id is None:
        raise ConnectionLoss("not connected to ZooKeeper")
    return int(client_id[0])


@dataclass(eq=False)
class _Tracked(ABC):
    """A node this client keeps an eye on, checked again after every reconnection."""

    owner: ZooKeeperDiscoveryClient = field(repr=False)
    closed: bool = field(default=False, init=False)

    @abstractmethod
    def check(self) -> None:
        """Re-arm the watch and act on the node's state (runs on the background thread)."""

    def _live_client(self) -> Any:
        zk = self.owner._zk
        return None if self.closed or zk is None or not zk.connected else zk

    def _on_event(self, event: Any) -> None:
        # NONE events come from kazoo dropping its watches on disconnection; the reconnect hook
        # checks again then.
        if event.type != EventType.NONE:
            self.owner._tasks.put(self.check)


@dataclass(eq=False)
class ZooKeeperRegistration(_Tracked):
    """An ephemeral sequential node, re-created under a new name after the session expires."""

    prefix: str
    data: bytes = field(repr=False)
    on_deleted: Callable[[], None] | None = field(repr=False)
    path: str = field(default="", init=False)
    _session_id: int = field(default=0, init=False, repr=False)

    def deregister(self) -> None:
        if not self.owner._forget(self):
            return
        try:
            self.owner.delete(self.path)
        except DiscoveryError as exc:
            # The node is ephemeral: it goes away with the session in any case.
            log.warning("Could not delete %s: %s", self.path, exc)

    def create(self, zk: Any) -> None:
        # Read the session before creating: if it expires in between, the check after the
        # reconnect sees a new session and creates the node again.
        self._session_id = _session_of(zk)
        self.path = zk.create(self.prefix, self.data, ephemeral=True, sequence=True, makepath=True)
        zk.exists(self.path, watch=self._on_event)

    def check(self) -> None:
        """Keep the node: re-arm its watch, re-create it after an expiry, or report that someone
        else deleted it while our session was alive (a decommission)."""
        zk = self._live_client()
        if zk is None:
            return
        session_id = _session_of(zk)
        stat = zk.exists(self.path, watch=self._on_event)
        if session_id != self._session_id:
            old = self.path
            self.create(zk)
            log.info("ZooKeeper session expired; re-registered %s as %s", old, self.path)
        elif stat is None and self.owner._forget(self):
            log.warning("Registration %s was deleted by another client", self.path)
            if self.on_deleted is not None:
                self.on_deleted()


@dataclass(eq=False)
class _DeletionWatch(_Tracked):
    path: str
    callback: Callable[[str], None] = field(repr=False)

    def cancel(self) -> None:
        self.owner._forget(self)

    def check(self) -> None:
        zk = self._live_client()
        if zk is not None and zk.exists(self.path, watch=self._on_event) is None:
            if self.owner._forget(self):
                self.owner._tasks.put(partial(self.callback, self.path))


class ZooKeeperDiscoveryClient:
    """Discovery through ZooKeeper; see :class:`kyuubi_py.ha.client.DiscoveryClient`."""

    def __init__(
        self, addresses: str, session_timeout_s: float = 60.0, connection_timeout_s: float = 15.0
    ) -> None:
        self.addresses = addresses
        self.session_timeout_s = session_timeout_s
        self.connection_timeout_s = connection_timeout_s
        self._zk: Any = None
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._guard = threading.Lock()
        self._tracked: set[_Tracked] = set()
        self._interrupted = False

    def start(self) -> None:
        try:
            zk = KazooClient(
                hosts=self.addresses,
                timeout=self.session_timeout_s,
                connection_retry=dict(_CONNECTION_RETRY),
                command_retry=dict(_COMMAND_RETRY),
            )
        except ValueError as exc:
            raise DiscoveryError(f"Invalid ZooKeeper addresses {self.addresses!r}: {exc}") from exc
        try:
            zk.start(timeout=self.connection_timeout_s)
        except KazooTimeoutError:
            raise DiscoveryError(
                f"Cannot connect to ZooKeeper at {self.addresses!r} within "
                f"{self.connection_timeout_s:g} s (kyuubi.ha.addresses); is it running?"
            ) from None
        zk.add_listener(self._on_state)
        self._zk = zk
        self._worker = threading.Thread(
            target=self._run_tasks, name="kyuubi-zk-events", daemon=True
        )
        self._worker.start()
        log.info("Connected to ZooKeeper at %s, session 0x%x", self.addresses, _session_of(zk))

    def stop(self) -> None:
        zk, self._zk = self._zk, None
        if zk is None:
            return
        with self._guard:
            for tracked in self._tracked:
                tracked.closed = True
            self._tracked.clear()
        zk.remove_listener(self._on_state)
        zk.stop()  # closing the session removes its ephemeral nodes at once
        zk.close()
        self._tasks.put(None)
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=10)

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        """(session id, password); ``None`` between sessions. Fault-injection tests use it to
        expire the session on the server (a second client attaches to it and closes it)."""
        client_id = None if self._zk is None else self._zk.client_id
        return None if client_id is None else (int(client_id[0]), bytes(client_id[1]))

    def register_service(
        self, path_prefix: str, data: bytes, *, on_deleted: Callable[[], None] | None = None
    ) -> ZooKeeperRegistration:
        registration = ZooKeeperRegistration(self, path_prefix, data, on_deleted)
        with _translated(f"registering {path_prefix}"):
            registration.create(self._client())
        with self._guard:
            self._tracked.add(registration)
        log.info("Registered %s", registration.path)
        return registration

    def get_service_nodes(self, space: str) -> list[ServiceNodeInfo]:
        zk = self._client()
        parent = space.rstrip("/")
        nodes = []
        with _translated(f"listing {space}"):
            try:
                children = zk.retry(zk.get_children, space)
            except NoNodeError:
                return []
            for name in children:
                try:
                    data, _ = zk.retry(zk.get, f"{parent}/{name}")
                except NoNodeError:
                    continue  # deregistered while we listed
                try:
                    nodes.append(parse_node_name(name, parent, data))
                except DiscoveryError:
                    log.debug("Ignoring %s/%s: not a service node", parent, name)
        return sorted(nodes, key=lambda node: (node.sequence is None, node.sequence or 0))

    def delete(self, path: str, recursive: bool = False) -> None:
        zk = self._client()
        with _translated(f"deleting {path}"), suppress(NoNodeError):
            zk.delete(path, recursive=recursive)

    @contextmanager
    def lock(self, path: str, timeout_s: float) -> Iterator[None]:
        zk = self._client()
        mutex = zk.Lock(path, identifier=f"{socket.gethostname()}:{os.getpid()}")
        with _translated(f"locking {path}"):
            try:
                mutex.acquire(timeout=timeout_s)
            except LockTimeout:
                message = f"Timed out after {timeout_s:g} s waiting for the ZooKeeper lock {path}"
                raise DiscoveryError(message) from None
        try:
            yield
        finally:
            try:
                mutex.release()
            except KazooException as exc:
                # The lock node is ephemeral: it goes away with the session anyway.
                log.warning("Could not release ZooKeeper lock %s: %r", path, exc)

    def get_and_increment(self, path: str) -> int:
        zk = self._client()
        # Curator's 4-byte big-endian encoding, as Kyuubi's DistributedAtomicInteger stores it.
        counter = zk.Counter(path, default=0, support_curator=True)
        with _translated(f"incrementing {path}"):
            counter += 1
        return int(counter.pre_value)

    def watch_deletion(self, path: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Callbacks run on the client's background thread. For a node this client registered,
        use ``register_service(on_deleted=...)``: its path changes when it is re-created."""
        watch = _DeletionWatch(self, path, callback)
        self._client()
        with self._guard:
            self._tracked.add(watch)
        with _translated(f"watching {path}"):
            watch.check()
        return watch.cancel

    def ensure_path(self, path: str) -> None:
        zk = self._client()
        with _translated(f"creating {path}"):
            zk.retry(zk.ensure_path, path)

    def create_if_absent(self, path: str, data: bytes) -> bytes:
        zk = self._client()
        with _translated(f"creating {path}"):
            try:
                zk.retry(zk.create, path, data, makepath=True)
                return data
            except NodeExistsError:
                # Created by another client first (or by our own retried call): theirs wins.
                stored, _ = zk.retry(zk.get, path)
                return bytes(stored)

    def get_data(self, path: str) -> bytes | None:
        zk = self._client()
        with _translated(f"reading {path}"):
            try:
                data, _ = zk.retry(zk.get, path)
            except NoNodeError:
                return None
        return bytes(data)

    def _client(self) -> Any:
        if self._zk is None:
            raise DiscoveryError("The ZooKeeper client is not started")
        return self._zk

    def _on_state(self, state: str) -> None:
        # kazoo's event thread: only flag and queue, never block here.
        if state != KazooState.CONNECTED:
            self._interrupted = True
            log.warning("ZooKeeper connection state: %s", state)
        elif self._interrupted:
            self._interrupted = False
            self._tasks.put(self._after_reconnect)

    def _after_reconnect(self) -> None:
        zk = self._zk
        if zk is None:
            return  # stopped meanwhile
        log.info("Reconnected to ZooKeeper, session 0x%x", _session_of(zk))
        with self._guard:
            tracked = list(self._tracked)
        for item in tracked:
            item.check()

    def _run_tasks(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
            except (KazooException, DiscoveryError) as exc:
                # Connection trouble or a stop: the next reconnect runs the checks again.
                log.warning("ZooKeeper background task failed: %r", exc)
            except Exception:
                log.exception("ZooKeeper background task failed")

    def _forget(self, tracked: _Tracked) -> bool:
        """Stop tracking; ``False`` if that already happened (so callers act only once)."""
        with self._guard:
            if tracked.closed:
                return False
            tracked.closed = True
            self._tracked.discard(tracked)
            return True
