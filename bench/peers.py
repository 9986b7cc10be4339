"""The peers under test, each in its own process on loopback with a free port:

* ``gateway``: ``kyuubi-py server`` with its own ZooKeeper; it launches one engine per user.
* ``direct``: ``kyuubi-py engine`` (a pyspark driver serving HS2 itself), no gateway.
* ``relay``: :mod:`bench.relay` in front of ``direct``, the floor for any gateway.
* ``gateway_shared``: the same gateway, for a user whose engine is ``direct`` (registered in the
  gateway's ZooKeeper): gateway, relay and direct then share one JVM, so their difference is the
  cost of what sits in between and nothing else (two engines differ by several percent).
* ``sts``: Spark Thrift Server from the pyspark jars.

Every engine (and STS) gets the same Spark settings and the same cached 1 M x 10 table before
anything is timed, so the peers differ only in what sits between the client and Spark.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.clients import Session

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAIN_USER = "bench"
SHARED_USER = "bench_direct"  # the gateway user whose engine is the direct engine
TABLE_1M = "global_temp.bench_1m"
TABLE_10M = "global_temp.bench_10m"

# The same Spark settings for every engine and STS: 2 local cores (the machine), no UI, and
# enough heap that a collected 1 M-row result does not turn into a GC benchmark.
SPARK_CONF: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.driver.host": HOST,
    "spark.ui.enabled": "false",
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "2",
}


def spark_conf(workdir: Path) -> dict[str, str]:
    """:data:`SPARK_CONF` with Spark's scratch space (block manager, shuffle) in ``workdir``:
    it goes away with the run's work directory, even after a killed JVM."""
    return {**SPARK_CONF, "spark.local.dir": str(workdir / "spark-local")}


ENGINE_START_TIMEOUT_S = 240.0
STS_START_TIMEOUT_S = 240.0
GATEWAY_START_TIMEOUT_S = 120.0


def free_port() -> int:
    """A port nothing listens on right now; the OS picks it, so parallel runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def kyuubi_cli() -> list[str]:
    """The ``kyuubi-py`` console script next to the running interpreter (the venv's)."""
    script = Path(sys.executable).parent / "kyuubi-py"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kyuubi_py.cli"]


def conf_args(conf: dict[str, str]) -> list[str]:
    return [arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]


# ---------------------------------------------------------------------------- the table


def table_sql(name: str, rows: int, partitions: int) -> str:
    """The benchmark table: 3 bigint, 2 int, 2 double, 1 boolean, 2 string columns; six of
    them 5 % null (``id % 20 = k``, a different k per column, so null rows differ); strings of
    about 10 characters, like the reference measurements (75 MB on the wire for 1 M rows).
    Only cheap expressions: the uncached large view is generated while B8 streams it, and its
    cost per row should stay close to reading the cached one."""
    return f"""CREATE OR REPLACE GLOBAL TEMP VIEW {name.split(".")[-1]} AS
SELECT
  id AS c_bigint1,
  IF(id % 20 = 1, NULL, id * 7919) AS c_bigint2,
  IF(id % 20 = 2, NULL, id % 1000003) AS c_bigint3,
  CAST(id % 2147483 AS INT) AS c_int1,
  IF(id % 20 = 3, NULL, CAST(id % 1000 AS INT)) AS c_int2,
  CAST(id AS DOUBLE) / 3 AS c_double1,
  IF(id % 20 = 4, NULL, CAST(id % 977 AS DOUBLE) * 1.5) AS c_double2,
  IF(id % 20 = 5, NULL, id % 3 = 0) AS c_bool,
  concat('name_', CAST(id % 100000 AS STRING)) AS c_string1,
  IF(id % 20 = 6, NULL, hex(id * 2654435761 % 1099511627689)) AS c_string2
FROM range(0, {rows}, 1, {partitions})"""


def prepare_tables(host: str, port: int, user: str, rows_1m: int, rows_10m: int) -> None:
    """Create both views in the engine serving ``user`` and cache the small one (eagerly:
    ``CACHE TABLE`` materialises it), so no timed run pays for building the data. The big one
    stays uncached on purpose: B8 measures streaming a result larger than anyone should hold."""
    with Session(host, port, user, timeout_s=900.0, connect_timeout_s=60.0) as session:
        session.run(table_sql(TABLE_1M, rows_1m, 2))
        session.run(f"CACHE TABLE {TABLE_1M}")
        # 500 k rows per partition: incremental collect streams one partition at a time.
        session.run(table_sql(TABLE_10M, rows_10m, max(1, rows_10m // 500_000)))
        # One full fetch: checks the table and warms the engine's collect and encode paths, so
        # a freshly launched engine is not compared, JIT-cold, with one that served for minutes.
        stats = session.query(f"SELECT * FROM {TABLE_1M}", 100_000)
        if stats.rows != rows_1m:
            raise RuntimeError(f"table check on {host}:{port} returned {stats.rows} rows")


# ---------------------------------------------------------------------------- peers


@dataclass
class Peer:
    """A server the benchmarks talk to. ``pids`` names the processes whose memory and CPU the
    scenarios account (each read with its descendants: an engine is Python plus a JVM)."""

    name: str
    workdir: Path
    host: str = HOST
    port: int = 0
    proc: procs.Proc | None = None
    error: str | None = None
    ready_s: float | None = None
    rss_at_start_kb: int | None = None
    user: str = MAIN_USER  # the user of this peer's sessions (it picks the engine behind a gateway)

    def start(self) -> None:
        raise NotImplementedError

    def pids(self) -> dict[str, int]:
        return {self.name: self.proc.pid} if self.proc else {}

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc)

    def session(self, user: str | None = None, **kwargs: Any) -> Session:
        return Session(self.host, self.port, user or self.user, **kwargs)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive() and self.error is None


@dataclass
class EnginePeer(Peer):
    """``kyuubi-py engine`` serving HS2 directly (auth NONE), port chosen by the OS. With
    ``register`` (ZooKeeper keys) it also registers as the engine of a gateway user."""

    register: dict[str, str] = field(default_factory=dict)
    zookeeper: Peer | None = None

    def start(self) -> None:
        conf = spark_conf(self.workdir)
        if self.register:
            if self.zookeeper is None or not self.zookeeper.alive():
                raise RuntimeError("registering needs the harness's ZooKeeper")
            conf |= {**self.register, "kyuubi.ha.addresses": self.zookeeper_address()}
        cmd = [*kyuubi_cli(), "engine", *conf_args(conf)]
        self.proc = procs.spawn(self.name, cmd, self.workdir / f"{self.name}.log", cwd=self.workdir)
        match = procs.wait_for_line(
            self.proc, r"kyuubi_py engine listening on (\S+):(\d+)", ENGINE_START_TIMEOUT_S
        )
        self.host, self.port = match.group(1), int(match.group(2))

    def zookeeper_address(self) -> str:
        assert self.zookeeper is not None
        return f"{self.zookeeper.host}:{self.zookeeper.port}"


@dataclass
class StsPeer(Peer):
    """Spark Thrift Server from the pyspark jars (SASL PLAIN only), Derby metastore and
    warehouse inside its work directory."""

    def start(self) -> None:
        home = spark_home()
        self.port = free_port()
        cmd = [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            *conf_args(
                {**spark_conf(self.workdir), "spark.sql.warehouse.dir": str(self.workdir / "wh")}
            ),
            "--hiveconf",
            f"hive.server2.thrift.port={self.port}",
            "--hiveconf",
            f"hive.server2.thrift.bind.host={HOST}",
            "spark-internal",
        ]
        env = {**os.environ, "SPARK_HOME": str(home)}
        env.pop("PYSPARK_SUBMIT_ARGS", None)
        self.proc = procs.spawn(self.name, cmd, self.workdir / "sts.log", env=env, cwd=self.workdir)
        wait_for_sessions(self, STS_START_TIMEOUT_S)


@dataclass
class RelayPeer(Peer):
    """:mod:`bench.relay` forwarding to ``target`` (the direct engine)."""

    target: Peer | None = None

    def start(self) -> None:
        if self.target is None or not self.target.port:
            raise RuntimeError("the relay needs a running direct engine")
        cmd = [
            sys.executable,
            "-m",
            "bench.relay",
            "--port",
            "0",
            "--target",
            f"{self.target.host}:{self.target.port}",
        ]
        self.proc = procs.spawn(
            self.name, cmd, self.workdir / "relay.log", cwd=Path(__file__).parent.parent
        )
        match = procs.wait_for_line(self.proc, r"listening on (\S+):(\d+)", 30.0)
        self.host, self.port = match.group(1), int(match.group(2))


@dataclass
class ZooKeeperPeer(Peer):
    """The gateway's ZooKeeper, started by the harness so the gateway's process tree holds only
    the gateway and its engines (and its RSS is the gateway's own)."""

    server: object | None = None

    def start(self) -> None:
        from kyuubi_py.ha.embedded import EmbeddedZooKeeper

        self.port = free_port()
        server = EmbeddedZooKeeper(self.port, self.workdir / "zookeeper")
        server.start(timeout_s=90.0)
        self.server = server
        self.host = server.host

    @property
    def connect_string(self) -> str:
        return f"{self.host}:{self.port}"

    def pids(self) -> dict[str, int]:
        return {}

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # type: ignore[attr-defined]

    def alive(self) -> bool:
        return self.server is not None and self.error is None


@dataclass
class SharedGatewayPeer(Peer):
    """The gateway, used as user :data:`SHARED_USER` whose engine is the direct engine."""

    gateway: Peer | None = None
    engine: Peer | None = None

    def start(self) -> None:
        if self.gateway is None or not self.gateway.alive():
            raise RuntimeError("needs the gateway")
        if self.engine is None or not self.engine.alive():
            raise RuntimeError("needs the direct engine, registered in the gateway's ZooKeeper")
        self.host, self.port, self.proc = self.gateway.host, self.gateway.port, self.gateway.proc
        wait_for_sessions(self, 60.0)

    def pids(self) -> dict[str, int]:
        return {"gateway": self.proc.pid} if self.proc else {}

    def stop(self) -> None:
        pass  # nothing of its own: the gateway and the engine are stopped as themselves

    def alive(self) -> bool:
        return bool(self.gateway and self.gateway.alive() and self.engine and self.engine.alive())


@dataclass
class GatewayPeer(Peer):
    """``kyuubi-py server``: engines for each user are launched on first OpenSession."""

    zookeeper: ZooKeeperPeer | None = None
    extra_conf: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        if self.zookeeper is None or not self.zookeeper.alive():
            raise RuntimeError("the gateway needs the harness's ZooKeeper")
        self.port = free_port()
        conf = {
            "kyuubi.frontend.thrift.binary.bind.host": HOST,
            "kyuubi.frontend.thrift.binary.bind.port": str(self.port),
            "kyuubi.ha.addresses": self.zookeeper.connect_string,
            "kyuubi.ha.namespace": ha_namespace(),
            "kyuubi.session.engine.log.dir": str(self.workdir / "engine_logs"),
            **spark_conf(self.workdir),
            **self.extra_conf,
        }
        cmd = [*kyuubi_cli(), "server", *conf_args(conf)]
        self.proc = procs.spawn(self.name, cmd, self.workdir / "gateway.log", cwd=self.workdir)
        match = procs.wait_for_line(
            self.proc, r"kyuubi_py gateway listening on (\S+):(\d+)", GATEWAY_START_TIMEOUT_S
        )
        self.host, self.port = match.group(1), int(match.group(2))

    def pids(self) -> dict[str, int]:
        # The gateway alone: its tree also holds the engines, accounted separately.
        return {"gateway": self.proc.pid} if self.proc else {}

    def engine_pids(self, user: str) -> list[int]:
        """Top processes of the engines launched for ``user`` (spark-submit's JVM, whose
        descendants include the Python driver), found by the user name on their command line."""
        return find_engine_pids(self.proc.pid if self.proc else None, user)

    def engine_pid(self, user: str) -> int | None:
        pids = self.engine_pids(user)
        return pids[0] if pids else None


def ha_namespace() -> str:
    return f"kyuubi_bench_{os.getpid()}"


def find_engine_pids(gateway_pid: int | None, user: str) -> list[int]:
    tree = procs.children_map()
    roots = [gateway_pid] if gateway_pid else []
    roots.append(os.getpid())  # detached engines reparent to us (subreaper)
    candidates: list[int] = []
    for root in roots:
        candidates.extend(procs.descendants(root, tree))
    matched = {pid for pid in candidates if _names_user(procs.cmdline(pid), user)}
    parents = {pid: procs.parent_of(pid) for pid in matched}
    return sorted(pid for pid in matched if parents[pid] not in matched)


def _names_user(command: str, user: str) -> bool:
    # The launcher passes the routing user as an engine conf (kyuubi.engine.user=<user>).
    return f"kyuubi.engine.user={user}" in command.split()


def wait_for_sessions(peer: Peer, timeout_s: float) -> None:
    """Ready means a real OpenSession succeeds, not just an open port (STS listens early)."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if peer.proc is not None and not peer.proc.alive():
            raise RuntimeError(f"{peer.name} exited:\n{peer.proc.tail()}")
        try:
            with Session(peer.host, peer.port, peer.user, timeout_s=30.0, connect_timeout_s=5.0):
                return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last_error = exc
            time.sleep(0.5)
    tail = peer.proc.tail() if peer.proc else ""
    raise TimeoutError(f"{peer.name} not serving after {timeout_s:.0f} s: {last_error}\n{tail}")


# ---------------------------------------------------------------------------- the set


@dataclass
class PeerSet:
    """The running peers of one benchmark run, by name. A peer that failed to start stays in
    the set with its ``error`` so scenarios record why its numbers are missing."""

    workdir: Path
    rows_1m: int
    rows_10m: int
    peers: dict[str, Peer] = field(default_factory=dict)
    prepared_users: set[tuple[str, str]] = field(default_factory=set)
    user_errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Peer | None:
        peer = self.peers.get(name)
        return peer if peer is not None and peer.alive() else None

    def available(self, names: Sequence[str]) -> list[Peer]:
        return [peer for name in names if (peer := self.get(name)) is not None]

    def errors(self) -> dict[str, str]:
        return {name: peer.error for name, peer in self.peers.items() if peer.error}

    def gateway(self) -> GatewayPeer | None:
        peer = self.get("gateway")
        return peer if isinstance(peer, GatewayPeer) else None

    def ensure_table(self, peer: Peer, user: str = MAIN_USER) -> None:
        """Build and cache the tables in the engine serving ``user`` (once per engine)."""
        # The relay and gateway_shared reach the direct engine: same engine, same tables.
        name = "direct" if peer.name in ("relay", "gateway_shared") else peer.name
        key = (name, user if name == "gateway" else MAIN_USER)
        if key in self.prepared_users:
            return
        prepare_tables(peer.host, peer.port, user, self.rows_1m, self.rows_10m)
        self.prepared_users.add(key)

    def start(self, names: Iterable[str], gateway_users: Sequence[str] = ()) -> None:
        """Start ``names`` and build the tables in each; through the gateway also for
        ``gateway_users`` (each gets an engine of its own), launched now, with the rest of the
        untimed start-up, rather than inside a scenario."""
        wanted = set(names)
        if "gateway_shared" in wanted:
            wanted |= {"gateway", "direct"}
        if "relay" in wanted:
            wanted.add("direct")
        if "gateway" in wanted:
            wanted.add("zookeeper")
        self._create(wanted)
        # JVM start-up is mostly waiting: every peer starts (and builds its tables) in a thread
        # of its own, as soon as the peer it depends on is up.
        extra = [user for user in gateway_users if user != MAIN_USER]
        # The direct engine registers in the gateway's ZooKeeper when gateway_shared needs it.
        direct_after = ("zookeeper",) if "gateway_shared" in wanted else ()
        plan: dict[str, tuple[tuple[str, ...], list[str]]] = {
            "zookeeper": ((), []),
            "direct": (direct_after, [MAIN_USER]),
            "sts": ((), [MAIN_USER]),
            "relay": (("direct",), []),
            "gateway": (("zookeeper",), [MAIN_USER, *extra]),
            "gateway_shared": (("gateway", "direct"), []),
        }
        threads: dict[str, threading.Thread] = {}
        for name, (after, users) in plan.items():
            if name in wanted:
                waits = [threads[dep] for dep in after if dep in threads]
                threads[name] = threading.Thread(
                    target=self._bring_up, args=(name, waits, users), name=f"start-{name}"
                )
                threads[name].start()
        for thread in threads.values():
            thread.join()

    def _bring_up(self, name: str, after: list[threading.Thread], users: list[str]) -> None:
        for thread in after:
            thread.join()
        self._start_one(name)
        if users:
            # The main user first (its failure marks the peer failed), the others together.
            self._prepare([(name, users[0])])
            self._prepare([(name, user) for user in users[1:]])

    def _create(self, wanted: set[str]) -> None:
        def workdir(name: str) -> Path:
            path = self.workdir / name
            path.mkdir(parents=True, exist_ok=True)
            return path

        if "zookeeper" in wanted:
            self.peers["zookeeper"] = ZooKeeperPeer("zookeeper", workdir("zookeeper"))
        if "direct" in wanted:
            direct = EnginePeer("direct", workdir("direct"))
            if "gateway_shared" in wanted:
                direct.register = {
                    "kyuubi.ha.namespace": ha_namespace(),
                    "kyuubi.engine.user": SHARED_USER,
                }
                direct.zookeeper = self.peers["zookeeper"]
            self.peers["direct"] = direct
        if "sts" in wanted:
            self.peers["sts"] = StsPeer("sts", workdir("sts"))
        if "relay" in wanted:
            self.peers["relay"] = RelayPeer("relay", workdir("relay"), target=self.peers["direct"])
        if "gateway" in wanted:
            zookeeper = self.peers["zookeeper"]
            assert isinstance(zookeeper, ZooKeeperPeer)
            self.peers["gateway"] = GatewayPeer("gateway", workdir("gateway"), zookeeper=zookeeper)
        if "gateway_shared" in wanted:
            self.peers["gateway_shared"] = SharedGatewayPeer(
                "gateway_shared",
                workdir("gateway_shared"),
                user=SHARED_USER,
                gateway=self.peers["gateway"],
                engine=self.peers["direct"],
            )

    def _start_one(self, name: str) -> None:
        peer = self.peers[name]
        started = time.monotonic()
        try:
            peer.start()
            peer.ready_s = time.monotonic() - started
            if peer.proc is not None:
                # Before any client: the footprint of the server on its own (gateway: alone).
                read = procs.rss_kb if isinstance(peer, GatewayPeer) else procs.tree_rss_kb
                peer.rss_at_start_kb = read(peer.proc.pid)
            log.info("%s ready on %s:%s after %.1f s", name, peer.host, peer.port, peer.ready_s)
        except Exception as exc:  # noqa: BLE001 - a missing peer is reported, not fatal
            peer.error = f"start failed: {type(exc).__name__}: {exc}"
            log.error("%s did not start: %s", name, peer.error[:2000])

    def _prepare(self, jobs: list[tuple[str, str]]) -> None:
        def prepare(name: str, user: str) -> None:
            peer = self.peers[name]
            if peer.error:
                return
            try:
                self.ensure_table(peer, user)
            except Exception as exc:  # noqa: BLE001
                message = f"table setup failed: {type(exc).__name__}: {exc}"
                if user == MAIN_USER:
                    peer.error = message
                else:  # only the scenarios needing this user will miss it
                    self.user_errors[user] = message
                log.error("%s/%s: %s", name, user, message[:2000])

        threads = [threading.Thread(target=prepare, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def release_gateway_users(self, users: Iterable[str]) -> None:
        """Stop the engines of ``users`` (frees their memory before the cold-start runs)."""
        gateway = self.gateway()
        if gateway is None:
            return
        for user in users:
            procs.kill_pids(gateway.engine_pids(user), grace_s=10.0)
            self.prepared_users.discard(("gateway", user))

    def stop(self) -> None:
        for name in ("relay", "gateway_shared", "gateway", "direct", "sts", "zookeeper"):
            peer = self.peers.get(name)
            if peer is None:
                continue
            try:
                peer.stop()
            except Exception:  # noqa: BLE001 - cleanup goes on
                log.exception("stopping %s failed", name)


@contextmanager
def running_peers(
    names: Iterable[str], workdir: Path, rows_1m: int, rows_10m: int
) -> Iterator[PeerSet]:
    peer_set = PeerSet(workdir, rows_1m, rows_10m)
    try:
        peer_set.start(names)
        yield peer_set
    finally:
        peer_set.stop()
