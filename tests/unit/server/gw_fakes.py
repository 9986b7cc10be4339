"""In-memory doubles for the gateway's unit tests: discovery and engine processes."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kyuubi_py.errors import DiscoveryError
from kyuubi_py.ha.client import ServiceNodeInfo
from kyuubi_py.ha.paths import engine_node_prefix, parse_node_name
from kyuubi_py.server.launcher import EngineLaunchCommand


class FakeRegistration:
    def __init__(self, owner: FakeDiscovery, path: str) -> None:
        self.owner = owner
        self.path = path

    def deregister(self) -> None:
        self.owner.delete(self.path)


class FakeDiscovery:
    """Nodes live in a dict ``path -> data``; children are found by prefix."""

    def __init__(self) -> None:
        self.nodes: dict[str, bytes] = {}
        self.counters: dict[str, int] = {}
        self.deleted: list[str] = []
        self.locks_taken: list[str] = []
        self._seq = itertools.count()
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._watches: dict[str, list[Callable[[str], None]]] = {}

    def register_service(
        self, path_prefix: str, data: bytes, *, on_deleted: Callable[[], None] | None = None
    ) -> FakeRegistration:
        with self._guard:
            path = f"{path_prefix}{next(self._seq):010d}"
            self.nodes[path] = data
        return FakeRegistration(self, path)

    def add_engine(self, space: str, host: str, port: int, ref_id: str) -> str:
        prefix = engine_node_prefix(space, host, port, "0.1.0", ref_id)
        return self.register_service(prefix, f"{host}:{port}".encode()).path

    def get_service_nodes(self, space: str) -> list[ServiceNodeInfo]:
        parent = space.rstrip("/")
        with self._guard:
            items = list(self.nodes.items())
        nodes = []
        for path, data in items:
            head, _, name = path.rpartition("/")
            if head == parent:
                try:
                    nodes.append(parse_node_name(name, parent, data))
                except DiscoveryError:
                    continue
        return sorted(nodes, key=lambda n: n.sequence or 0)

    def delete(self, path: str, recursive: bool = False) -> None:
        with self._guard:
            self.deleted.append(path)
            self.nodes.pop(path, None)
            callbacks = self._watches.pop(path, [])
        for callback in callbacks:
            callback(path)

    def watch_deletion(self, path: str, callback: Callable[[str], None]) -> Callable[[], None]:
        with self._guard:
            present = path in self.nodes
            if present:
                self._watches.setdefault(path, []).append(callback)
        if not present:
            callback(path)

        def cancel() -> None:
            with self._guard:
                watches = self._watches.get(path, [])
                if callback in watches:
                    watches.remove(callback)

        return cancel

    @contextmanager
    def lock(self, path: str, timeout_s: float) -> Iterator[None]:
        with self._guard:
            mutex = self._locks.setdefault(path, threading.Lock())
        if not mutex.acquire(timeout=timeout_s):
            raise DiscoveryError(f"Timed out waiting for the lock {path}")
        self.locks_taken.append(path)
        try:
            yield
        finally:
            mutex.release()

    def get_and_increment(self, path: str) -> int:
        with self._guard:
            value = self.counters.get(path, 0)
            self.counters[path] = value + 1
            return value

    def create_if_absent(self, path: str, data: bytes) -> bytes:
        with self._guard:
            return self.nodes.setdefault(path, data)

    def get_data(self, path: str) -> bytes | None:
        return self.nodes.get(path)


class FakeProcess:
    """Stands in for :class:`EngineProcess`: after ``register_after`` polls it registers in the
    fake discovery (``exit_code`` set: it exits instead; neither: it hangs)."""

    instances: list[FakeProcess] = []

    def __init__(
        self,
        command: EngineLaunchCommand,
        discovery: FakeDiscovery,
        space: str,
        *,
        register_after: int | None = 1,
        exit_code: int | None = None,
        log_lines: tuple[str, ...] = (),
        port: int = 40000,
    ) -> None:
        self.command = command
        self.discovery = discovery
        self.space = space
        self.register_after = register_after
        self.exit_code = exit_code
        self.log_lines = log_lines
        self.port = port
        self.log_path: Path | None = None
        self.polls = 0
        self.killed = False
        self.pid = 4242
        FakeProcess.instances.append(self)

    @property
    def ref_id(self) -> str:
        arg = next(a for a in self.command.argv if a.startswith("kyuubi.engine.ref.id="))
        return arg.partition("=")[2]

    def start(self, log_path: Path) -> None:
        self.log_path = log_path

    def poll(self) -> int | None:
        self.polls += 1
        if self.killed:
            return -15
        if self.exit_code is not None:
            return self.exit_code
        if self.register_after is not None and self.polls >= self.register_after:
            if not any(
                n.ref_id == self.ref_id for n in self.discovery.get_service_nodes(self.space)
            ):
                self.discovery.add_engine(self.space, "127.0.0.1", self.port, self.ref_id)
        return None

    def tail(self, lines: int, max_bytes: int = 0) -> list[str]:
        return list(self.log_lines[-lines:])

    @property
    def alive(self) -> bool:
        return not self.killed and self.exit_code is None

    def kill(self, grace_s: float = 5.0) -> None:
        self.killed = True
