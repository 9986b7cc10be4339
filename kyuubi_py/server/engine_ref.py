"""Which engine a session goes to: share level, routing user, subdomain, pool member (pure).

- CONNECTION: a new engine per session, in ``/<ns>_<ver>_CONNECTION_SPARK_SQL/<user>/<refId>``;
  no launch lock (nobody else looks there) and no pool.
- USER (default): the session user's engine.
- GROUP: the engine of the user's group. The group is the first (sorted) LDAP group when the
  LDAP provider knows the user; else the user's primary Unix group when the user exists on the
  gateway host; else the user name itself, so a user without any group gets an engine of their
  own rather than one shared with strangers.
- SERVER: one engine for everyone, owned by the gateway's OS user.

The subdomain is the client's ``kyuubi.engine.share.level.subdomain``, else ``engine-pool-<i>``
when ``kyuubi.engine.pool.size`` > 0 (capped by ``kyuubi.engine.pool.size.threshold``), else
``default``. Pool members are chosen by ``kyuubi.engine.pool.selectPolicy``: RANDOM, POLLING
(round robin through a ZooKeeper counter), or LEAST_SESSIONS: the member with the fewest open
sessions across all gateways, counted through the ephemeral node each gateway keeps per session
under ``/<ns>_<ver>_<SHARE>_SPARK_SQL_sessions/<user>/<subdomain>`` (nodes of a dead gateway go
with its ZooKeeper session, so the counts heal by themselves). The I/O behind POLLING and
LEAST_SESSIONS comes in as callables, so this module stays pure.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kyuubi_py import __version__
from kyuubi_py.auth.provider import GroupProvider
from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import DiscoveryError, KyuubiSQLError
from kyuubi_py.ha import paths

log = logging.getLogger(__name__)

ENGINE_TYPE = paths.SPARK_SQL
DEFAULT_SUBDOMAIN = "default"

GroupOf = Callable[[str], str]
#: ``counter()`` → the previous value of the POLLING counter (atomically incremented).
Counter = Callable[[], int]
#: ``session_counts(subdomains)`` → open sessions per pool member, in the same order.
SessionCounts = Callable[[Sequence[str]], Sequence[int]]


@dataclass(frozen=True)
class EngineRef:
    """Everything the gateway needs to find or launch one engine."""

    namespace: str
    version: str
    share_level: str
    session_user: str
    #: The user (or group) the engine belongs to and runs as: a ZooKeeper path segment.
    routing_user: str
    #: ``default``, the client's choice, a pool member, or the ref id at CONNECTION level.
    subdomain: str
    ref_id: str
    #: Whether the subdomain is a pool member (its sessions are counted for LEAST_SESSIONS).
    pooled: bool = False

    @property
    def space(self) -> str:
        """Where the engine registers."""
        return paths.engine_space(
            self.namespace,
            self.version,
            self.share_level,
            self.routing_user,
            self.subdomain,
            ENGINE_TYPE,
        )

    @property
    def lock_path(self) -> str | None:
        """The launch lock; ``None`` at CONNECTION level, whose space is the session's own."""
        if self.share_level == "CONNECTION":
            return None
        return paths.lock_path(
            self.namespace,
            self.version,
            self.share_level,
            self.routing_user,
            self.subdomain,
            ENGINE_TYPE,
        )

    @property
    def sessions_space(self) -> str:
        return paths.sessions_space(
            self.namespace,
            self.version,
            self.share_level,
            self.routing_user,
            self.subdomain,
            ENGINE_TYPE,
        )

    @property
    def app_name(self) -> str:
        """``kyuubi_<SHARE>_SPARK_SQL_<user>_<subdomain>_<refId>`` (no subdomain at CONNECTION
        level, where it is the ref id), Kyuubi's format."""
        head = f"kyuubi_{self.share_level}_{ENGINE_TYPE}_{self.routing_user}"
        if self.share_level == "CONNECTION":
            return f"{head}_{self.ref_id}"
        return f"{head}_{self.subdomain}_{self.ref_id}"


@dataclass(frozen=True)
class EngineSpec:
    """What a session's conf asks for, before a pool member is picked."""

    share_level: str
    routing_user: str
    subdomain: str | None
    pool_size: int
    pool_name: str
    select_policy: str

    @property
    def pool_members(self) -> list[str]:
        return [f"{self.pool_name}-{i}" for i in range(self.pool_size)]


# -- identities ---------------------------------------------------------------------------------


def server_user() -> str:
    """The gateway's OS user (the owner of SERVER level engines)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def unix_primary_group(user: str) -> str | None:
    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except (KeyError, OverflowError):
        return None


def make_group_of(provider: object | None) -> GroupOf:
    """The group of a user for GROUP level: LDAP's primary group, else the Unix primary group,
    else the user name (see the module doc)."""

    def group_of(user: str) -> str:
        if isinstance(provider, GroupProvider):
            group = provider.primary_group(user)
            if group:
                return group
        return unix_primary_group(user) or user

    return group_of


def _segment(value: str, what: str) -> str:
    try:
        return paths.validate_path_segment(value)
    except DiscoveryError as exc:
        raise KyuubiSQLError(f"Cannot route the session: invalid {what}: {exc}", "08004") from None


# -- spec and selection -----------------------------------------------------------------------


def routing_user(share_level: str, user: str, group_of: GroupOf, owner: str) -> str:
    if share_level == "GROUP":
        return _segment(group_of(user), "group name")
    if share_level == "SERVER":
        return _segment(owner, "server user")
    return _segment(user, "user name")


def engine_spec(conf: KyuubiConf, user: str, group_of: GroupOf, owner: str) -> EngineSpec:
    """Read the share level, subdomain and pool settings of a session's layered conf."""
    level = conf.get(keys.ENGINE_SHARE_LEVEL) or "USER"
    subdomain = (conf.get(keys.ENGINE_SHARE_LEVEL_SUBDOMAIN) or "").strip() or None
    if subdomain is not None:
        subdomain = _segment(subdomain, "subdomain")
    size = pool_size(conf)
    if subdomain is not None or level == "CONNECTION":
        size = 0  # Kyuubi: a subdomain or a connection-level engine is never pooled
    return EngineSpec(
        share_level=level,
        routing_user=routing_user(level, user, group_of, owner),
        subdomain=subdomain,
        pool_size=size,
        pool_name=_segment(conf.get(keys.ENGINE_POOL_NAME) or "engine-pool", "pool name"),
        select_policy=conf.get(keys.ENGINE_POOL_SELECT_POLICY) or "RANDOM",
    )


def pool_size(conf: KyuubiConf) -> int:
    """``kyuubi.engine.pool.size`` capped by the threshold; 0 when the pool is off."""
    size = conf.get(keys.ENGINE_POOL_SIZE) or -1
    threshold = max(conf.get(keys.ENGINE_POOL_SIZE_THRESHOLD) or 1, 1)
    if size <= 0:
        return 0
    if size > threshold:
        log.info("kyuubi.engine.pool.size %d capped to the threshold %d", size, threshold)
    return min(size, threshold)


def select_member(
    spec: EngineSpec,
    counter: Counter,
    session_counts: SessionCounts,
    rng: random.Random | None = None,
) -> str:
    """The pool member a new session goes to."""
    members = spec.pool_members
    chooser = rng or random
    if spec.select_policy == "POLLING":
        return members[counter() % len(members)]
    if spec.select_policy == "LEAST_SESSIONS":
        counts = list(session_counts(members))
        fewest = min(counts)
        # Random among the least loaded, so gateways deciding at the same moment spread out.
        return chooser.choice([m for m, c in zip(members, counts, strict=True) if c == fewest])
    return chooser.choice(members)


def new_ref_id() -> str:
    return str(uuid.uuid4())


def build_engine_ref(
    spec: EngineSpec,
    user: str,
    namespace: str,
    *,
    counter: Counter,
    session_counts: SessionCounts,
    ref_id: str | None = None,
    version: str = __version__,
    rng: random.Random | None = None,
) -> EngineRef:
    ref = ref_id or new_ref_id()
    pooled = spec.pool_size > 0
    if spec.share_level == "CONNECTION":
        subdomain = ref
    elif spec.subdomain is not None:
        subdomain = spec.subdomain
    elif pooled:
        subdomain = select_member(spec, counter, session_counts, rng)
    else:
        subdomain = DEFAULT_SUBDOMAIN
    return EngineRef(
        namespace, version, spec.share_level, user, spec.routing_user, subdomain, ref, pooled
    )


def polling_counter_path(spec: EngineSpec, namespace: str, version: str = __version__) -> str:
    return paths.counter_path(
        namespace, version, spec.share_level, spec.routing_user, spec.pool_name, ENGINE_TYPE
    )
