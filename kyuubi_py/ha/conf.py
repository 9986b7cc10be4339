"""Configuration keys of service discovery (ZooKeeper) and of the embedded ZooKeeper server.

Names follow Kyuubi's ``HighAvailabilityConf`` and ``ZookeeperConf``. Kyuubi declares the embedded
server's timings as integers of milliseconds; these are durations, and a bare number is still read
as milliseconds, so Kyuubi's values work unchanged.
"""

from __future__ import annotations

from kyuubi_py.config.entry import duration_conf, int_conf, str_conf

# -- discovery client ---------------------------------------------------------------------------
HA_ADDRESSES = str_conf(
    "kyuubi.ha.addresses",
    doc="ZooKeeper connect string (host:port[,host:port...][/chroot]) where gateways and engines "
    "register. Empty: the gateway starts an embedded ZooKeeper (see "
    "kyuubi.zookeeper.embedded.*) and uses it.",
    default="",
    since="0.1.0",
    alternatives=("kyuubi.ha.zookeeper.quorum",),
    server_only=True,
)
HA_NAMESPACE = str_conf(
    "kyuubi.ha.namespace",
    doc="Root znode of this deployment. Gateways register under /<namespace>, which is the "
    "zooKeeperNamespace of a Hive JDBC discovery URL; engines under /<namespace>_<version>_...",
    default="kyuubi",
    since="0.1.0",
    alternatives=("kyuubi.ha.zookeeper.namespace",),
    server_only=True,
)
HA_ZK_SESSION_TIMEOUT = duration_conf(
    "kyuubi.ha.zookeeper.session.timeout",
    doc="ZooKeeper session timeout asked for (the server clamps it to its own min/max). A process "
    "that dies stays discoverable this long; after an expiry the registration is re-created.",
    default=60.0,
    since="0.1.0",
    server_only=True,
)
HA_ZK_CONN_TIMEOUT = duration_conf(
    "kyuubi.ha.zookeeper.connection.timeout",
    doc="How long to wait for the first connection to ZooKeeper before giving up at start.",
    default=15.0,
    since="0.1.0",
    server_only=True,
)

# -- embedded ZooKeeper server (used when kyuubi.ha.addresses is empty) ---------------------------
ZK_CLIENT_PORT = int_conf(
    "kyuubi.zookeeper.embedded.client.port",
    doc="Client port of the embedded ZooKeeper server.",
    default=2181,
    since="0.1.0",
    check=lambda p: 0 < p <= 65535,
    check_message="must be a TCP port (1-65535)",
    server_only=True,
)
ZK_CLIENT_PORT_ADDRESS = str_conf(
    "kyuubi.zookeeper.embedded.client.port.address",
    doc="Address the embedded ZooKeeper listens on. The loopback address by default: an "
    "unauthenticated ZooKeeper must not be reachable from other hosts unless you mean it.",
    default="127.0.0.1",
    since="0.1.0",
    server_only=True,
)
ZK_DATA_DIR = str_conf(
    "kyuubi.zookeeper.embedded.data.dir",
    doc="Directory of the embedded ZooKeeper: its snapshots and transaction logs (in data/), its "
    "generated zoo.cfg and its log file (zookeeper.log). A relative path is resolved against "
    "the working directory of the process, as in Kyuubi.",
    default="embedded_zookeeper",
    since="0.1.0",
    server_only=True,
)
ZK_TICK_TIME = duration_conf(
    "kyuubi.zookeeper.embedded.tick.time",
    doc="ZooKeeper tickTime of the embedded server (its heartbeat unit), whole milliseconds.",
    default=0.5,
    since="0.1.0",
    server_only=True,
)
ZK_MIN_SESSION_TIMEOUT = duration_conf(
    "kyuubi.zookeeper.embedded.min.session.timeout",
    doc="Shortest session timeout the embedded server grants.",
    default=1.0,
    since="0.1.0",
    server_only=True,
)
ZK_MAX_SESSION_TIMEOUT = duration_conf(
    "kyuubi.zookeeper.embedded.max.session.timeout",
    doc="Longest session timeout the embedded server grants; must cover "
    "kyuubi.ha.zookeeper.session.timeout.",
    default=120.0,
    since="0.1.0",
    server_only=True,
)
ZK_MAX_CLIENT_CONNECTIONS = int_conf(
    "kyuubi.zookeeper.embedded.max.client.connections",
    doc="Most connections one client IP may open to the embedded server; 0 means no limit "
    "(every local engine connects from the same address).",
    default=0,
    since="0.1.0",
    check=lambda n: n >= 0,
    check_message="must be 0 or more",
    server_only=True,
)
