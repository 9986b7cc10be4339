"""Engine refs: share levels, subdomains, pools and select policies (pure)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from kyuubi_py import __version__
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import KyuubiSQLError
from kyuubi_py.ha.paths import sessions_space
from kyuubi_py.server.engine_ref import (
    EngineSpec,
    build_engine_ref,
    engine_spec,
    make_group_of,
    polling_counter_path,
    pool_size,
    select_member,
    unix_primary_group,
)

V = __version__
REF = "0b7a3c9e-0000-4000-8000-000000000001"


def groups(user: str) -> str:
    return {"alice": "analysts", "bob": "analysts"}.get(user, user)


def no_counter() -> int:
    raise AssertionError("counter not expected")


def no_counts(members: Sequence[str]) -> Sequence[int]:
    raise AssertionError("session counts not expected")


def ref_for(settings: dict[str, str], user: str = "alice", **kwargs: object):  # type: ignore[no-untyped-def]
    spec = engine_spec(KyuubiConf(settings), user, groups, "gwuser")
    return build_engine_ref(
        spec,
        user,
        "kyuubi",
        counter=kwargs.get("counter", no_counter),  # type: ignore[arg-type]
        session_counts=kwargs.get("session_counts", no_counts),  # type: ignore[arg-type]
        ref_id=REF,
        rng=random.Random(1),
    )


def test_user_level_is_the_default() -> None:
    ref = ref_for({})
    assert ref.share_level == "USER"
    assert ref.routing_user == "alice"
    assert ref.space == f"/kyuubi_{V}_USER_SPARK_SQL/alice/default"
    assert ref.lock_path == f"/kyuubi_{V}_USER_SPARK_SQL_lock/alice/default"
    assert ref.app_name == f"kyuubi_USER_SPARK_SQL_alice_default_{REF}"
    assert not ref.pooled


def test_connection_level_has_its_own_space_and_no_lock() -> None:
    ref = ref_for({"kyuubi.engine.share.level": "CONNECTION", "kyuubi.engine.pool.size": "3"})
    assert ref.space == f"/kyuubi_{V}_CONNECTION_SPARK_SQL/alice/{REF}"
    assert ref.lock_path is None
    assert ref.app_name == f"kyuubi_CONNECTION_SPARK_SQL_alice_{REF}"
    assert not ref.pooled  # the pool is ignored at CONNECTION level


def test_group_level_routes_by_group() -> None:
    alice = ref_for({"kyuubi.engine.share.level": "GROUP"}, "alice")
    bob = ref_for({"kyuubi.engine.share.level": "GROUP"}, "bob")
    assert alice.routing_user == bob.routing_user == "analysts"
    assert alice.space == bob.space == f"/kyuubi_{V}_GROUP_SPARK_SQL/analysts/default"
    assert alice.session_user == "alice"


def test_server_level_routes_to_the_server_user() -> None:
    ref = ref_for({"kyuubi.engine.share.level": "SERVER"}, "carol")
    assert ref.routing_user == "gwuser"
    assert ref.space == f"/kyuubi_{V}_SERVER_SPARK_SQL/gwuser/default"


def test_subdomain_wins_over_pool() -> None:
    ref = ref_for({"kyuubi.engine.share.level.subdomain": "etl", "kyuubi.engine.pool.size": "3"})
    assert ref.subdomain == "etl"
    assert not ref.pooled
    assert ref.app_name == f"kyuubi_USER_SPARK_SQL_alice_etl_{REF}"


@pytest.mark.parametrize(
    ("size", "threshold", "expected"), [(-1, 9, 0), (0, 9, 0), (3, 9, 3), (20, 9, 9), (5, 2, 2)]
)
def test_pool_size_is_capped(size: int, threshold: int, expected: int) -> None:
    conf = KyuubiConf(
        {"kyuubi.engine.pool.size": str(size), "kyuubi.engine.pool.size.threshold": str(threshold)}
    )
    assert pool_size(conf) == expected


def test_random_pool_member() -> None:
    ref = ref_for({"kyuubi.engine.pool.size": "3"})
    assert ref.pooled
    assert ref.subdomain in {"engine-pool-0", "engine-pool-1", "engine-pool-2"}
    assert ref.sessions_space == f"/kyuubi_{V}_USER_SPARK_SQL_sessions/alice/{ref.subdomain}"


def test_polling_goes_round_robin() -> None:
    values = iter(range(7))
    chosen = [
        ref_for(
            {"kyuubi.engine.pool.size": "3", "kyuubi.engine.pool.selectPolicy": "polling"},
            counter=lambda: next(values),
        ).subdomain
        for _ in range(7)
    ]
    assert chosen == [f"engine-pool-{i % 3}" for i in range(7)]


def test_least_sessions_picks_the_emptiest_member() -> None:
    settings = {
        "kyuubi.engine.pool.size": "3",
        "kyuubi.engine.pool.selectPolicy": "LEAST_SESSIONS",
        "kyuubi.engine.pool.name": "p",
    }
    asked: list[Sequence[str]] = []

    def counts(members: Sequence[str]) -> Sequence[int]:
        asked.append(members)
        return [4, 1, 2]

    assert ref_for(settings, session_counts=counts).subdomain == "p-1"
    assert asked == [["p-0", "p-1", "p-2"]]


def test_least_sessions_breaks_ties_randomly_among_the_emptiest() -> None:
    spec = EngineSpec("USER", "alice", None, 4, "engine-pool", "LEAST_SESSIONS")
    picks = {
        select_member(spec, no_counter, lambda m: [1, 0, 0, 1], random.Random(seed))
        for seed in range(40)
    }
    assert picks == {"engine-pool-1", "engine-pool-2"}


def test_polling_counter_path() -> None:
    spec = EngineSpec("USER", "alice", None, 2, "engine-pool", "POLLING")
    assert (
        polling_counter_path(spec, "kyuubi")
        == f"/kyuubi_{V}_USER_SPARK_SQL_seqNum/alice/engine-pool"
    )


def test_sessions_space() -> None:
    assert sessions_space("ns", "1.0", "GROUP", "g", "engine-pool-0") == (
        "/ns_1.0_GROUP_SPARK_SQL_sessions/g/engine-pool-0"
    )


@pytest.mark.parametrize("user", ["a/b", "..", ".", "", "x\0y"])
def test_bad_routing_names_are_refused(user: str) -> None:
    with pytest.raises(KyuubiSQLError, match="Cannot route"):
        ref_for({}, user)


def test_bad_group_name_is_refused() -> None:
    spec_conf = KyuubiConf({"kyuubi.engine.share.level": "GROUP"})
    with pytest.raises(KyuubiSQLError, match="group name"):
        engine_spec(spec_conf, "alice", lambda user: "../etc", "gw")


class FakeLdap:
    def groups_of(self, user: str) -> list[str]:
        return ["b", "c"] if user == "alice" else []

    def primary_group(self, user: str) -> str | None:
        found = self.groups_of(user)
        return found[0] if found else None


def test_group_of_prefers_ldap_then_unix_then_the_user_name() -> None:
    group_of = make_group_of(FakeLdap())
    assert group_of("alice") == "b"
    assert group_of("root") == unix_primary_group("root") == "root"
    assert group_of("no-such-user-xyz") == "no-such-user-xyz"
    assert make_group_of(None)("no-such-user-xyz") == "no-such-user-xyz"
