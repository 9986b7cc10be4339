"""What the gateway and engines need from service discovery, as a protocol.

:class:`DiscoveryClient` is implemented for ZooKeeper by
:class:`kyuubi_py.ha.zookeeper.ZooKeeperDiscoveryClient`; tests of the gateway can use a double.
Paths are absolute ZooKeeper-style paths built by :mod:`kyuubi_py.ha.paths`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ServiceNodeInfo:
    """A registered gateway or engine, parsed from its node name
    ``serverUri=<host>:<port>;version=<ver>[;<k>=<v>...][;refId=<id>];sequence=<seq>``."""

    name: str
    path: str
    host: str
    port: int
    version: str | None = None
    ref_id: str | None = None
    #: The 10-digit suffix ZooKeeper appended, as a number; ``None`` when the name has none.
    sequence: int | None = None
    #: Any other ``key=value`` parts of the name (Spark engines publish memory sizes, app id...).
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: The node's data; ``<host>:<port>`` for the nodes kyuubi_py writes.
    data: bytes = b""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class ServiceRegistration(Protocol):
    """An ephemeral node that stays registered while the process lives, across session expiry."""

    @property
    def path(self) -> str:
        """The node's current path (it changes when the node is re-created after expiry)."""
        ...

    def deregister(self) -> None:
        """Delete the node and stop re-creating it. Idempotent."""
        ...


class DiscoveryClient(Protocol):
    def start(self) -> None:
        """Connect; raises :class:`~kyuubi_py.errors.DiscoveryError` when unreachable."""
        ...

    def stop(self) -> None:
        """Close the session, which removes every ephemeral node it holds."""
        ...

    def register_service(
        self,
        path_prefix: str,
        data: bytes,
        *,
        on_deleted: Callable[[], None] | None = None,
    ) -> ServiceRegistration:
        """Create an ephemeral sequential node ``<path_prefix><10-digit seq>`` and keep it
        registered. ``on_deleted`` runs when someone else deletes the node (decommission)."""
        ...

    def get_service_nodes(self, space: str) -> list[ServiceNodeInfo]:
        """The registered nodes directly under ``space``, oldest first; ``[]`` if it is absent."""
        ...

    def delete(self, path: str, recursive: bool = False) -> None:
        """Delete ``path`` (and its children when ``recursive``); absent paths are ignored."""
        ...

    def lock(self, path: str, timeout_s: float) -> AbstractContextManager[None]:
        """An inter-process mutex; entering raises ``DiscoveryError`` after ``timeout_s``."""
        ...

    def get_and_increment(self, path: str) -> int:
        """Atomically increment the counter at ``path``, returning its previous value."""
        ...

    def watch_deletion(self, path: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(path)`` once when ``path`` disappears (at once if it is already
        absent). Returns a function that cancels the watch."""
        ...

    def ensure_path(self, path: str) -> None:
        """Create ``path`` and its parents as persistent nodes if absent."""
        ...

    def create_if_absent(self, path: str, data: bytes) -> bytes:
        """Create ``path`` (and its parents) as a persistent node holding ``data`` unless it
        exists; return the data the node holds afterwards (ours, or the first creator's)."""
        ...

    def get_data(self, path: str) -> bytes | None:
        """The data of ``path``; ``None`` when it is absent."""
        ...
