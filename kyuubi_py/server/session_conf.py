"""What a client may put in its OpenSession configuration: normalization and validation (pure).

Rules, in the order they apply to each entry:

1. Prefixes are stripped, case-insensitively: ``set:hiveconf:``, ``set:system:`` and
   ``set:metaconf:`` name session conf; ``set:hivevar:`` names a variable (kept apart, so the
   engine can substitute ``${x}``); ``use:database`` picks the database. ``set:env:`` is refused
   (a client must not set the engine's environment), and so is a prefix left after stripping.
2. Keys must be plain ASCII config names (no ``=``, no leading ``-``, no white space, no
   look-alike letters); values must be free of NUL and small enough for one argv element.
3. Every check below runs on each name the key can take effect under, lower-cased: as spelled,
   its **effective** key (what the launcher puts on the spark-submit command line: ``spark.x``
   as is, ``hadoop.x`` as ``spark.hadoop.x``, any other unprefixed ``x`` as ``spark.x``) and
   its canonical name when it is a legacy alternative of a declared key (CVE-2026-62391).
4. ``kyuubi.session.conf.restrict.list``: the session is refused with an error naming the key.
5. ``kyuubi.session.conf.ignore.list``: the entry is dropped silently.
6. Impersonation keys (``hive.server2.proxy.user``, ``kyuubi.session.proxy.user``) are refused:
   there is no impersonation; naming the session user itself is accepted and dropped.
7. :data:`DENIED_PATTERNS`, launch-time and code-execution keys, are refused unless they match
   ``kyuubi.session.conf.admin.allow.list``. Refused rather than dropped, so a client never
   believes a setting took effect when it did not.
8. Keys declared ``server_only`` are dropped with a warning, as Kyuubi drops immutable keys:
   stale settings in a JDBC URL should not break logins, and the server value stays in force.
9. A declared key's value must parse; ``kyuubi.engine.share.level.subdomain`` must be a valid
   ZooKeeper path segment (it routes only within the user's own engines, so it stays allowed).

Patterns in all three lists are lower-case globs where ``*`` matches any run of characters
(Kyuubi's trailing ``.*`` prefix entries mean the same).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kyuubi_py.config import keys
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.config.entry import REGISTRY
from kyuubi_py.errors import ConfigError, DiscoveryError, KyuubiSQLError
from kyuubi_py.ha.paths import validate_path_segment

log = logging.getLogger(__name__)

#: SQL state of a refused connection attempt (Hive: "client unable to establish connection").
REFUSED_SQL_STATE = "08004"
HIVECONF_PREFIX = "set:hiveconf:"
HIVEVAR_PREFIX = "set:hivevar:"
ENV_PREFIX = "set:env:"
CONF_PREFIXES = (HIVECONF_PREFIX, "set:system:", "set:metaconf:")
USE_DATABASE = "use:database"
MAX_ENTRIES = 1000
MAX_KEY_LENGTH = 256
#: Linux caps one argv element at 128 KiB; stay well below it.
MAX_VALUE_LENGTH = 32 * 1024
_KEY_SYNTAX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")

PROXY_USER_KEYS = ("hive.server2.proxy.user", "kyuubi.session.proxy.user")

#: Keys a client may never set unless an administrator allows them (reference/reliability.md
#: section 1.3): each can run code, change identity, or move where the engine runs or writes.
DENIED_PATTERNS: tuple[str, ...] = (
    # JVM flags and class/library paths (-javaagent:, -XX:OnOutOfMemoryError=<cmd>)
    "spark.*.extrajavaoptions",
    "spark.*.defaultjavaoptions",
    "spark.*.extraclasspath",
    "spark.*.extralibrarypath",
    # code and files shipped into the engine, executables it runs
    "spark.jars*",
    "spark.files*",
    "spark.archives*",
    "spark.submit.*",
    "spark.pyspark.*",
    "spark.sql.execution.pyspark.python",
    "spark.python.*.module",
    "spark.*.resource.*.discoveryscript",
    # class-name hooks
    "spark.sql.extensions",
    "spark.plugins*",
    "spark.extralisteners",
    "spark.sql.queryexecutionlisteners",
    "spark.sql.streaming.streamingquerylisteners",
    "spark.sql.catalog.*",
    "spark.ui.filters",
    "spark.metrics.conf*",
    "spark.hadoop.*.impl",
    # environment, identity, deployment
    "spark.executorenv.*",
    "spark.yarn.*",
    "spark.kubernetes.*",
    "spark.kerberos.*",
    "spark.master",
    "spark.remote",
    "spark.driver.host",
    "spark.driver.bindaddress",
    "spark.authenticate*",
    "spark.redaction.*",
    "spark.sql.redaction.*",
    # where the engine writes, and which metastore code it loads
    "spark.sql.warehouse.dir",
    "spark.sql.hive.metastore.*",
    "spark.eventlog.dir",
    "spark.local.dir",
    # routing, discovery and identity of the gateway itself
    "kyuubi.engine.share.level",
    "kyuubi.ha.*",
    "kyuubi.engine.secret*",
    "kyuubi.engine.ref.id",
    "kyuubi.engine.user",
    "kyuubi.authentication*",
    "kyuubi.session.real.user",
    "kyuubi.session.user",
    "kyuubi.client.ipaddress",
    "kyuubi.server.ipaddress",
    "kyuubi.session.connection.url",
)


def _glob(pattern: str) -> re.Pattern[str]:
    parts = (re.escape(part) for part in pattern.strip().lower().split("*"))
    return re.compile(".*".join(parts))


class KeyMatcher:
    """A set of lower-case globs (``*`` matches anything)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(p.strip().lower() for p in patterns if p.strip())
        self._compiled = [_glob(p) for p in self.patterns]

    def first_match(self, names: Iterable[str]) -> str | None:
        for name in names:
            if any(regex.fullmatch(name) for regex in self._compiled):
                return name
        return None


DENIED = KeyMatcher(DENIED_PATTERNS)


@dataclass(frozen=True)
class SessionConfPolicy:
    restrict: KeyMatcher
    ignore: KeyMatcher
    admin_allow: KeyMatcher

    @classmethod
    def from_conf(cls, conf: KyuubiConf) -> SessionConfPolicy:
        restrict: tuple[str, ...] = conf.get(keys.SESSION_CONF_RESTRICT_LIST) or ()
        ignore: tuple[str, ...] = conf.get(keys.SESSION_CONF_IGNORE_LIST) or ()
        allow: tuple[str, ...] = conf.get(keys.SESSION_CONF_ADMIN_ALLOW_LIST) or ()
        return cls(KeyMatcher(restrict), KeyMatcher(ignore), KeyMatcher(allow))


@dataclass(frozen=True)
class SessionConf:
    """A client's validated session conf.

    ``conf`` keys are as the client spelled them after prefix stripping (the engine applies them
    to the session as such); :meth:`launch_overlay` gives them under their effective keys.
    """

    conf: Mapping[str, str] = field(default_factory=dict)
    hivevars: Mapping[str, str] = field(default_factory=dict)
    database: str | None = None
    dropped: tuple[str, ...] = ()

    def launch_overlay(self) -> dict[str, str]:
        """The conf as the launcher reads it: effective keys, layered over the server conf."""
        return {canonical_key(k) or effective_key(k): v for k, v in self.conf.items()}

    def engine_session_conf(self) -> dict[str, str]:
        """The OpenSession configuration sent to the engine."""
        out = dict(self.conf)
        out.update({HIVEVAR_PREFIX + k: v for k, v in self.hivevars.items()})
        if self.database is not None:
            out[USE_DATABASE] = self.database
        return out


def effective_key(key: str) -> str:
    """The key the launcher passes on: ``spark.*`` and ``kyuubi.*`` as is, ``hadoop.*`` as
    ``spark.hadoop.*``, anything else as ``spark.<key>`` (Kyuubi's convertConfigKey; our engine
    reads ``kyuubi.*`` keys itself)."""
    lowered = key.lower()
    if lowered.startswith(("spark.", "kyuubi.")):
        return key
    return f"spark.{key}"


def canonical_key(key: str) -> str | None:
    """The declared name of ``key`` when it is a declared key or one of its alternatives."""
    entry = REGISTRY.get(key)
    if entry is None:
        # Case variants too: KYUUBI.ENGINE.SHARE.LEVEL must not dodge the checks of the real key.
        entry = next((e for k, e in REGISTRY.items() if k.lower() == key.lower()), None)
    return None if entry is None else entry.key


def _refuse(message: str) -> KyuubiSQLError:
    return KyuubiSQLError(message, REFUSED_SQL_STATE)


def _strip_prefix(raw_key: str) -> tuple[str, str]:
    """``(kind, key)`` with kind one of ``conf``, ``hivevar``, ``database``."""
    key = raw_key.strip()
    lowered = key.lower()
    if lowered.startswith(ENV_PREFIX):
        raise _refuse(f"Setting environment variables is not allowed ({key!r})")
    if lowered == USE_DATABASE:
        return "database", key
    kind = "conf"
    if lowered.startswith(HIVEVAR_PREFIX):
        kind, key = "hivevar", key[len(HIVEVAR_PREFIX) :]
    else:
        for prefix in CONF_PREFIXES:
            if lowered.startswith(prefix):
                key = key[len(prefix) :]
                break
    if key.lower().startswith(("set:", "use:")):
        raise _refuse(f"Invalid session configuration key {raw_key!r}: nested prefix")
    return kind, key.strip()


def check_key_syntax(key: str) -> str:
    if not key:
        raise _refuse("Invalid session configuration key: empty")
    if len(key) > MAX_KEY_LENGTH:
        raise _refuse(f"Invalid session configuration key {key[:40]!r}...: too long")
    if not key.isascii() or not _KEY_SYNTAX.fullmatch(key):
        raise _refuse(
            f"Invalid session configuration key {key!r}: use ASCII letters, digits and . _ - /"
        )
    return key


def check_value(key: str, value: str) -> str:
    if "\0" in value:
        raise _refuse(f"Invalid value for session configuration key {key!r}: contains NUL")
    if len(value) > MAX_VALUE_LENGTH:
        raise _refuse(
            f"Value of session configuration key {key!r} is longer than {MAX_VALUE_LENGTH} chars"
        )
    return value


def names_of(key: str) -> list[str]:
    """Every lower-case name ``key`` can take effect under."""
    names = [key.lower(), effective_key(key).lower()]
    canonical = canonical_key(key)
    if canonical is not None:
        names.append(canonical.lower())
    return list(dict.fromkeys(names))


class _Validator:
    def __init__(self, policy: SessionConfPolicy, user: str) -> None:
        self.policy = policy
        self.user = user
        self.dropped: list[str] = []

    def keep(self, key: str, value: str) -> bool:
        """Whether the entry stays; raises when it refuses the session."""
        names = names_of(key)
        if self.policy.restrict.first_match(names) is not None:
            raise _refuse(
                f"Session configuration key {key!r} is restricted by the server "
                "(kyuubi.session.conf.restrict.list)"
            )
        if self.policy.ignore.first_match(names) is not None:
            return self._drop(key, "on kyuubi.session.conf.ignore.list")
        if any(name in PROXY_USER_KEYS for name in names):
            return self._proxy_user(key, value)
        if DENIED.first_match(names) and not self.policy.admin_allow.first_match(names):
            raise _refuse(
                f"Session configuration key {key!r} cannot be set by a client: it is a launch-time "
                "or code-execution setting (an administrator can allow it with "
                "kyuubi.session.conf.admin.allow.list)"
            )
        return self._check_declared(key, value)

    def _drop(self, key: str, reason: str) -> bool:
        log.info("Dropping session conf key %s of %s: %s", key, self.user, reason)
        self.dropped.append(key)
        return False

    def _proxy_user(self, key: str, value: str) -> bool:
        if value.strip() == self.user:
            return self._drop(key, "names the session user itself")
        raise _refuse(
            f"Impersonation is not supported: {key} cannot name another user; connect as that "
            "user instead"
        )

    def _check_declared(self, key: str, value: str) -> bool:
        entry = REGISTRY.get(key)
        if entry is None:
            return True
        if entry.server_only:
            log.warning("Ignoring server-only key %s set by %s", key, self.user)
            self.dropped.append(key)
            return False
        try:
            entry.convert(value)
        except ConfigError as exc:
            raise _refuse(str(exc)) from None
        if entry is keys.ENGINE_SHARE_LEVEL_SUBDOMAIN:
            _check_subdomain(value)
        return True


def _check_subdomain(value: str) -> None:
    try:
        validate_path_segment(value.strip())
    except DiscoveryError as exc:
        raise _refuse(f"Invalid kyuubi.engine.share.level.subdomain: {exc}") from None
    if any(sep in value for sep in (";", "=")):
        raise _refuse("Invalid kyuubi.engine.share.level.subdomain: must not contain ';' or '='")


def validate_session_conf(
    raw: Mapping[str, str], policy: SessionConfPolicy, user: str
) -> SessionConf:
    """Normalize and check a client's OpenSession configuration; raise to refuse the session."""
    if len(raw) > MAX_ENTRIES:
        raise _refuse(f"Too many session configuration entries ({len(raw)} > {MAX_ENTRIES})")
    validator = _Validator(policy, user)
    conf: dict[str, str] = {}
    hivevars: dict[str, str] = {}
    database: str | None = None
    for raw_key, raw_value in raw.items():
        kind, key = _strip_prefix(str(raw_key))
        value = check_value(key, "" if raw_value is None else str(raw_value))
        if kind == "database":
            database = value.strip() or None
            continue
        if validator.keep(check_key_syntax(key), value):
            (hivevars if kind == "hivevar" else conf)[key] = value
    return SessionConf(conf, hivevars, database, tuple(validator.dropped))
