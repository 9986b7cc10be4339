"""The secret the gateway presents to engines (SASL PLAIN password) and gives to those it launches.

One secret per deployment, not per engine, so that every gateway on the same ZooKeeper (HA, or
after a restart) can reach every engine. Where it comes from, first match wins:

1. the ``KYUUBI_ENGINE_SECRET`` environment variable;
2. the file ``kyuubi.engine.secret.file`` (surrounding white space ignored);
3. a znode (``kyuubi.ha.zookeeper.engine.secure.secret.node``, default ``/<namespace>_secret``):
   the first gateway creates it with a random value, the others read it. As with Kyuubi's
   ``zookeeper`` secret provider, whoever can read ZooKeeper can then reach the engines; protect
   ZooKeeper (network, digest ACLs) accordingly, or use 1 or 2.

The secret never appears on a command line or in a log.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Protocol

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf, read_secret_file
from kyuubi_py.errors import ConfigError
from kyuubi_py.ha.conf import HA_NAMESPACE
from kyuubi_py.server.conf import ENGINE_SECRET_NODE

log = logging.getLogger(__name__)

SECRET_BYTES = 32


class SecretNodeStore(Protocol):
    def create_if_absent(self, path: str, data: bytes) -> bytes: ...


def secret_node_path(conf: KyuubiConf) -> str:
    configured = conf.get(ENGINE_SECRET_NODE)
    if configured:
        return configured
    namespace = (conf.get(HA_NAMESPACE) or "kyuubi").strip("/")
    return f"/{namespace}_secret"


def resolve_engine_secret(conf: KyuubiConf, store: SecretNodeStore) -> str:
    from_env = os.environ.get(keys.ENGINE_SECRET_ENV, "").strip()
    if from_env:
        log.info("Engine secret taken from %s", keys.ENGINE_SECRET_ENV)
        return from_env
    path = conf.get(keys.ENGINE_SECRET_FILE)
    if path:
        log.info("Engine secret taken from %s", path)
        return read_secret_file(path, keys.ENGINE_SECRET_FILE.key)
    node = secret_node_path(conf)
    data = store.create_if_absent(node, secrets.token_urlsafe(SECRET_BYTES).encode("ascii"))
    value = data.decode("utf-8", "replace").strip()
    if not value:
        raise ConfigError(f"The engine secret node {node} in ZooKeeper is empty")
    log.info("Engine secret taken from the ZooKeeper node %s", node)
    return value
