"""Session conf rules: prefixes, effective keys, restrict / ignore / deny / server-only (S1, S2)."""

from __future__ import annotations

import pytest

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.server import conf as server_conf  # noqa: F401 - declares the gateway keys
from kyuubi_py.server.session_conf import (
    DENIED_PATTERNS,
    SessionConfPolicy,
    effective_key,
    validate_session_conf,
)

OPEN = SessionConfPolicy.from_conf(KyuubiConf())


def policy(**lists: str) -> SessionConfPolicy:
    conf = KyuubiConf()
    for name, value in lists.items():
        conf.set(f"kyuubi.session.conf.{name.replace('_', '.')}.list", value)
    return SessionConfPolicy.from_conf(conf)


def check(raw: dict[str, str], pol: SessionConfPolicy = OPEN, user: str = "alice"):  # type: ignore[no-untyped-def]
    return validate_session_conf(raw, pol, user)


def test_prefixes_are_stripped_and_kinds_kept_apart() -> None:
    result = check(
        {
            "set:hiveconf:spark.sql.shuffle.partitions": "4",
            "set:hivevar:region": "eu",
            "set:system:a.b": "1",
            "set:metaconf:c.d": "2",
            "use:database": "sales",
            "spark.executor.memory": "1g",
        }
    )
    assert result.conf == {
        "spark.sql.shuffle.partitions": "4",
        "a.b": "1",
        "c.d": "2",
        "spark.executor.memory": "1g",
    }
    assert result.hivevars == {"region": "eu"}
    assert result.database == "sales"
    engine = result.engine_session_conf()
    assert engine["set:hivevar:region"] == "eu"
    assert engine["use:database"] == "sales"


def test_prefixes_match_case_insensitively() -> None:
    result = check({"SET:HiveConf:spark.sql.x": "1", "Use:Database": "db"})
    assert result.conf == {"spark.sql.x": "1"}
    assert result.database == "db"


@pytest.mark.parametrize("key", ["set:env:PATH", "SET:ENV:LD_PRELOAD", " set:env:X"])
def test_env_is_refused(key: str) -> None:
    with pytest.raises(KyuubiSQLError, match="environment"):
        check({key: "x"})


def test_nested_prefix_is_refused() -> None:
    with pytest.raises(KyuubiSQLError, match="nested prefix"):
        check({"set:hiveconf:set:hiveconf:spark.jars": "x"})


@pytest.mark.parametrize(
    ("key", "effective"),
    [
        ("spark.executor.memory", "spark.executor.memory"),
        ("kyuubi.engine.pool.size", "kyuubi.engine.pool.size"),
        ("hadoop.fs.defaultFS", "spark.hadoop.fs.defaultFS"),
        ("executor.memory", "spark.executor.memory"),
        ("hive.exec.dynamic.partition", "spark.hive.exec.dynamic.partition"),
    ],
)
def test_effective_key(key: str, effective: str) -> None:
    assert effective_key(key) == effective


def test_launch_overlay_uses_effective_and_canonical_keys() -> None:
    result = check({"executor.memory": "2g", "kyuubi.engine.share.level.sub.domain": "etl"})
    assert result.launch_overlay() == {
        "spark.executor.memory": "2g",
        "kyuubi.engine.share.level.subdomain": "etl",
    }


# One concrete key per deny-list family; each must be refused under every spelling a client has.
DENIED_EXAMPLES = [
    "spark.driver.extraJavaOptions",
    "spark.executor.extraJavaOptions",
    "spark.yarn.am.extraJavaOptions",
    "spark.driver.defaultJavaOptions",
    "spark.driver.extraClassPath",
    "spark.executor.extraClassPath",
    "spark.driver.extraLibraryPath",
    "spark.jars",
    "spark.jars.packages",
    "spark.jars.repositories",
    "spark.jars.ivySettings",
    "spark.files",
    "spark.archives",
    "spark.submit.pyFiles",
    "spark.submit.deployMode",
    "spark.pyspark.python",
    "spark.pyspark.driver.python",
    "spark.python.daemon.module",
    "spark.sql.execution.pyspark.python",
    "spark.driver.resource.gpu.discoveryScript",
    "spark.executor.resource.gpu.discoveryScript",
    "spark.sql.extensions",
    "spark.plugins",
    "spark.extraListeners",
    "spark.sql.queryExecutionListeners",
    "spark.sql.streaming.streamingQueryListeners",
    "spark.sql.catalog.evil",
    "spark.ui.filters",
    "spark.metrics.conf.driver.sink.x.class",
    "spark.hadoop.fs.s3a.impl",
    "spark.executorEnv.LD_PRELOAD",
    "spark.yarn.appMasterEnv.X",
    "spark.kubernetes.container.image",
    "spark.kerberos.keytab",
    "spark.master",
    "spark.remote",
    "spark.driver.host",
    "spark.driver.bindAddress",
    "spark.authenticate",
    "spark.authenticate.secret",
    "spark.redaction.regex",
    "spark.sql.redaction.options.regex",
    "spark.sql.warehouse.dir",
    "spark.sql.hive.metastore.jars",
    "spark.eventLog.dir",
    "spark.local.dir",
    "kyuubi.engine.share.level",
    "kyuubi.session.engine.share.level",
    "kyuubi.ha.addresses",
    "kyuubi.ha.namespace",
    "kyuubi.engine.secret.file",
    "kyuubi.engine.ref.id",
    "kyuubi.ha.engine.ref.id",
    "kyuubi.engine.user",
    "kyuubi.authentication",
    "kyuubi.authentication.ldap.url",
    "kyuubi.session.real.user",
    "kyuubi.client.ipAddress",
    "kyuubi.server.ipAddress",
    "kyuubi.session.user",
    "kyuubi.session.connection.url",
]


def _spellings(key: str) -> list[str]:
    spellings = [
        key,
        key.upper(),
        f"  {key}  ",
        f"set:hiveconf:{key}",
        f"set:system:{key}",
        f"set:metaconf:{key}",
        f"set:hivevar:{key}",
    ]
    if key.startswith("spark.hadoop."):
        spellings.append(key.removeprefix("spark."))  # hadoop.* becomes spark.hadoop.*
    if key.startswith("spark."):
        spellings.append(key.removeprefix("spark."))  # unprefixed becomes spark.*
    return spellings


@pytest.mark.parametrize("key", DENIED_EXAMPLES)
def test_denied_keys_are_refused_in_every_spelling(key: str) -> None:
    for spelling in _spellings(key):
        with pytest.raises(KyuubiSQLError, match="cannot be set by a client") as info:
            check({spelling: "x"})
        assert spelling.strip().split(":")[-1] in info.value.message


def test_every_deny_family_has_an_example() -> None:
    from kyuubi_py.server.session_conf import KeyMatcher

    for pattern in DENIED_PATTERNS:
        matcher = KeyMatcher([pattern])
        assert any(matcher.first_match([k.lower()]) for k in DENIED_EXAMPLES), pattern


def test_admin_allow_list_lets_a_denied_key_through() -> None:
    pol = policy(admin_allow="spark.sql.extensions,spark.jars*")
    result = check({"spark.sql.extensions": "a.B", "jars": "/x.jar"}, pol)
    assert result.conf == {"spark.sql.extensions": "a.B", "jars": "/x.jar"}
    with pytest.raises(KyuubiSQLError):
        check({"spark.driver.extraJavaOptions": "-x"}, pol)


@pytest.mark.parametrize(
    "spelling",
    [
        "spark.executor.memory",
        "executor.memory",
        "SPARK.EXECUTOR.MEMORY",
        "set:hiveconf:executor.memory",
    ],
)
def test_restrict_list_refuses_every_spelling(spelling: str) -> None:
    pol = policy(restrict="spark.executor.memory")
    with pytest.raises(KyuubiSQLError, match="restricted by the server") as info:
        check({spelling: "4g"}, pol)
    assert info.value.sql_state == "08004"


def test_restrict_list_prefix_and_legacy_name() -> None:
    pol = policy(restrict="spark.sql.*,kyuubi.engine.share.level.subdomain")
    with pytest.raises(KyuubiSQLError, match="restricted"):
        check({"spark.sql.shuffle.partitions": "1"}, pol)
    with pytest.raises(KyuubiSQLError, match="restricted"):
        check({"kyuubi.engine.share.level.sub.domain": "x"}, pol)


def test_restrict_wins_over_admin_allow() -> None:
    pol = policy(restrict="spark.jars", admin_allow="spark.jars")
    with pytest.raises(KyuubiSQLError, match="restricted"):
        check({"spark.jars": "x"}, pol)


def test_ignore_list_drops_silently_even_denied_keys() -> None:
    pol = policy(ignore="spark.driver.memory,spark.jars")
    result = check({"driver.memory": "8g", "spark.jars": "x", "spark.sql.x": "1"}, pol)
    assert result.conf == {"spark.sql.x": "1"}
    assert set(result.dropped) == {"driver.memory", "spark.jars"}


def test_server_only_keys_are_dropped() -> None:
    result = check(
        {
            "kyuubi.session.close.on.disconnect": "false",
            "kyuubi.engine.pool.size.threshold": "100",
            "kyuubi.engine.spark.submit": "/bin/evil",
            "kyuubi.server.limit.connections.per.user": "1000",
            "kyuubi.engine.pool.size": "2",
        }
    )
    assert result.conf == {"kyuubi.engine.pool.size": "2"}
    assert len(result.dropped) == 4


def test_proxy_user_refused_unless_it_is_the_session_user() -> None:
    for key in (
        "hive.server2.proxy.user",
        "kyuubi.session.proxy.user",
        "set:hiveconf:hive.server2.proxy.user",
    ):
        with pytest.raises(KyuubiSQLError, match="Impersonation is not supported"):
            check({key: "bob"})
    assert check({"hive.server2.proxy.user": "alice"}).conf == {}


@pytest.mark.parametrize(
    "key",
    [
        "spark.x=y",
        "-Dfoo",
        "--conf",
        "spark x",
        "spark.\nx",
        "spаrk.jars",
        "ｓpark.jars",
        "a;b",
        "",
        "set:hiveconf:",
    ],
)
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(KyuubiSQLError):
        check({key: "1"})


def test_values_are_kept_verbatim_but_nul_refused() -> None:
    value = "a;b $(id) `id` \n--conf spark.jars=x"
    assert check({"spark.app.tag": value}).conf == {"spark.app.tag": value}
    with pytest.raises(KyuubiSQLError, match="NUL"):
        check({"spark.app.tag": "a\0b"})
    with pytest.raises(KyuubiSQLError, match="longer than"):
        check({"spark.app.tag": "x" * 100_000})


def test_too_many_entries_refused() -> None:
    with pytest.raises(KyuubiSQLError, match="Too many"):
        check({f"spark.k{i}": "v" for i in range(2000)})


def test_declared_values_are_validated() -> None:
    with pytest.raises(KyuubiSQLError, match="kyuubi.engine.pool.size"):
        check({"kyuubi.engine.pool.size": "lots"})
    with pytest.raises(KyuubiSQLError, match="kyuubi.engine.pool.selectPolicy"):
        check({"kyuubi.engine.pool.selectPolicy": "FASTEST"})


@pytest.mark.parametrize("subdomain", ["..", "a/b", "a;b", "a=b", "a\u2028b", "\x01"])
def test_subdomain_must_be_a_path_segment(subdomain: str) -> None:
    with pytest.raises(KyuubiSQLError, match="subdomain"):
        check({"kyuubi.engine.share.level.subdomain": subdomain})
    assert check({"kyuubi.engine.share.level.subdomain": "etl-1"}).conf


def test_duplicate_spellings_last_wins() -> None:
    result = check({"set:hiveconf:spark.sql.x": "1", "spark.sql.x": "2"})
    assert result.conf == {"spark.sql.x": "2"}
