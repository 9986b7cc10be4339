"""Routing, pools, faults and gateway HA with fake engines (no Spark: ~1 s per engine).

The gateway code is the real one; only spark-submit is replaced (see ``fake_submit.py``), so the
launcher's command line, ZooKeeper registration, the launch lock, stale-node handling and the
relay all run for real.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from pyhive.exc import OperationalError
from support.gateway_support import GatewayUnderTest, StartGateway, scalar, wait_until

from kyuubi_py import __version__

pytestmark = pytest.mark.timeout(120)


def engine_of(connection: Any) -> tuple[str, int]:
    ref_id, pid = str(scalar(connection, "engine")).split()
    return ref_id, int(pid)


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" in status.read()
    except FileNotFoundError:
        return True


def test_user_level_shares_one_engine_per_user(fake_gateway: GatewayUnderTest) -> None:
    alice, alice2, bob = (fake_gateway.connect(u) for u in ("alice", "alice", "bob"))
    try:
        assert scalar(alice, "whoami") == "alice" and scalar(bob, "whoami") == "bob"
        assert engine_of(alice) == engine_of(alice2) != engine_of(bob)
    finally:
        for connection in (alice, alice2, bob):
            connection.close()


def test_server_level_routes_everyone_to_one_engine(start_gateway: StartGateway) -> None:
    gateway = start_gateway("gw_server", **{"kyuubi.engine.share.level": "SERVER"})
    alice, bob = gateway.connect("alice"), gateway.connect("bob")
    try:
        assert engine_of(alice) == engine_of(bob)
        assert (scalar(alice, "whoami"), scalar(bob, "whoami")) == ("alice", "bob")
    finally:
        alice.close()
        bob.close()
    run = gateway.submit.runs()[-1]
    argv: list[str] = run["argv"]  # type: ignore[assignment]
    owner = [a for a in argv if a.startswith("kyuubi.engine.user=")][0].split("=", 1)[1]
    assert owner == os.environ.get("USER", owner)
    assert run["env"]["SPARK_USER"] == owner  # type: ignore[index]
    assert gateway.server.discovery.get_service_nodes(  # type: ignore[union-attr]
        f"/gw_server_{__version__}_SERVER_SPARK_SQL/{owner}/default"
    )


def test_connection_level_gives_each_session_its_own_engine(start_gateway: StartGateway) -> None:
    gateway = start_gateway("gw_conn", **{"kyuubi.engine.share.level": "CONNECTION"})
    first, second = gateway.connect("alice"), gateway.connect("alice")
    try:
        (ref1, pid1), (ref2, _) = engine_of(first), engine_of(second)
        assert ref1 != ref2
    finally:
        second.close()
    first.close()
    wait_until(lambda: process_gone(pid1), 10, "the CONNECTION engine to exit with its session")


def test_client_may_not_pick_the_share_level(fake_gateway: GatewayUnderTest) -> None:
    with pytest.raises(OperationalError, match="kyuubi.engine.share.level"):
        fake_gateway.connect("alice", configuration={"kyuubi.engine.share.level": "SERVER"})


def test_subdomain_separates_engines_of_one_user(fake_gateway: GatewayUnderTest) -> None:
    plain = fake_gateway.connect("alice")
    etl = fake_gateway.connect(
        "alice", configuration={"kyuubi.engine.share.level.subdomain": "etl"}
    )
    try:
        assert engine_of(plain) != engine_of(etl)
    finally:
        plain.close()
        etl.close()
    with pytest.raises(OperationalError, match="subdomain"):
        fake_gateway.connect("alice", configuration={"kyuubi.engine.share.level.subdomain": ".."})


def test_least_sessions_pool_spreads_sessions(start_gateway: StartGateway) -> None:
    gateway = start_gateway(
        "gw_pool",
        **{"kyuubi.engine.pool.size": "2", "kyuubi.engine.pool.selectPolicy": "LEAST_SESSIONS"},
    )
    first, second = gateway.connect("alice"), gateway.connect("alice")
    try:
        engine1, engine2 = engine_of(first), engine_of(second)
        assert engine1 != engine2
        first.close()
        third = gateway.connect("alice")  # member 1 is busy, member 0 is free again
        assert engine_of(third) == engine1
        third.close()
    finally:
        second.close()
    spawned = [a for r in gateway.submit.runs() for a in r["argv"] if "subdomain=" in a]  # type: ignore[attr-defined]
    assert sorted(spawned) == [
        "kyuubi.engine.share.level.subdomain=engine-pool-0",
        "kyuubi.engine.share.level.subdomain=engine-pool-1",
    ]


def test_polling_pool_goes_round_robin(start_gateway: StartGateway) -> None:
    gateway = start_gateway(
        "gw_polling",
        **{"kyuubi.engine.pool.size": "2", "kyuubi.engine.pool.selectPolicy": "POLLING"},
    )
    connections = [gateway.connect("alice") for _ in range(4)]
    try:
        engines = [engine_of(c) for c in connections]
        assert engines[0] == engines[2] != engines[1] == engines[3]
    finally:
        for connection in connections:
            connection.close()


def test_launch_failure_reaches_the_client_and_the_next_open_relaunches(
    fake_gateway: GatewayUnderTest,
) -> None:
    fake_gateway.submit.set_mode("fail")
    try:
        with pytest.raises(OperationalError) as info:
            fake_gateway.connect("frank")
    finally:
        fake_gateway.submit.set_mode(None)
    message = str(info.value)
    assert "Failed to launch engine kyuubi_USER_SPARK_SQL_frank_default_" in message
    assert "spark-submit exited with code 1" in message
    assert "Exception: boom" in message
    connection = fake_gateway.connect("frank")  # lock and permit were released
    assert scalar(connection, "whoami") == "frank"
    connection.close()


def test_engine_that_never_registers_times_out_and_is_killed(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway(
        "gw_hang", mode="hang", **{"kyuubi.session.engine.initialize.timeout": "PT3S"}
    )
    started = time.monotonic()
    with pytest.raises(OperationalError, match="kyuubi.session.engine.initialize.timeout"):
        gateway.connect("alice")
    assert time.monotonic() - started < 15
    pid = int(gateway.submit.runs()[-1]["pid"])  # type: ignore[call-overload]
    wait_until(lambda: process_gone(pid), 10, "the hanging launch to be killed")


def test_killed_engine_is_replaced(fake_gateway: GatewayUnderTest) -> None:
    victim = fake_gateway.connect("grace")
    old_ref, pid = engine_of(victim)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: process_gone(pid), 10, "the engine to die")
    with pytest.raises(OperationalError, match="no longer reachable"):
        scalar(victim, "whoami")
    victim.close()  # closing a session whose engine died still works
    replacement = fake_gateway.connect("grace")
    try:
        new_ref, _ = engine_of(replacement)
        assert new_ref != old_ref
        nodes = fake_gateway.server.discovery.get_service_nodes(  # type: ignore[union-attr]
            f"/gw_fake_{__version__}_USER_SPARK_SQL/grace/default"
        )
        assert [n.ref_id for n in nodes] == [new_ref]  # the dead engine's node is gone
    finally:
        replacement.close()


def test_engine_dying_mid_statement_fails_that_session_only(fake_gateway: GatewayUnderTest) -> None:
    doomed, other = fake_gateway.connect("heidi"), fake_gateway.connect("ivan")
    try:
        with pytest.raises(OperationalError, match="no longer reachable"):
            scalar(doomed, "crash")
        assert scalar(other, "whoami") == "ivan"
    finally:
        doomed.close()
        other.close()


def test_two_gateways_share_engines_and_a_restart_reuses_them(
    fake_gateway: GatewayUnderTest, start_gateway: StartGateway
) -> None:
    first = fake_gateway.connect("judy")
    engine = engine_of(first)
    first.close()
    spawned = len(fake_gateway.submit.runs())
    second_gateway = start_gateway("gw_fake", submit=fake_gateway.submit)
    via_second = second_gateway.connect("judy")
    assert engine_of(via_second) == engine
    via_second.close()
    second_gateway.stop(kill_engines=False)  # a restart: stop, then start again
    restarted = start_gateway("gw_fake", submit=fake_gateway.submit)
    again = restarted.connect("judy")
    assert engine_of(again) == engine
    again.close()
    assert len(fake_gateway.submit.runs()) == spawned  # no engine was launched for this


def test_connection_limit_per_user(start_gateway: StartGateway) -> None:
    gateway = start_gateway("gw_limits", **{"kyuubi.server.limit.connections.per.user": "2"})
    first, second = gateway.connect("alice"), gateway.connect("alice")
    with pytest.raises(
        OperationalError, match=r"Connection limit per user reached \(user: alice limit: 2\)"
    ):
        gateway.connect("alice")
    first.close()
    third = gateway.connect("alice")
    for connection in (second, third):
        connection.close()
    backend = gateway.server.backend
    assert backend is not None
    wait_until(lambda: backend.limiter.counts("alice", "127.0.0.1") == (0, 0, 0), 5, "counts")


def test_disconnect_without_close_frees_the_session(fake_gateway: GatewayUnderTest) -> None:
    backend = fake_gateway.server.backend
    assert backend is not None
    connection = fake_gateway.connect("karl")
    assert scalar(connection, "whoami") == "karl"
    connection._transport.close()  # drop the socket without CloseSession
    wait_until(lambda: backend.limiter.counts("karl", "127.0.0.1") == (0, 0, 0), 10, "cleanup")


def test_secret_travels_in_the_environment_only(fake_gateway: GatewayUnderTest) -> None:
    connection = fake_gateway.connect("alice")
    connection.close()
    secret = fake_gateway.server.discovery.get_data("/gw_fake_secret")  # type: ignore[union-attr]
    assert secret
    for run in fake_gateway.submit.runs():
        assert all(secret.decode() not in arg for arg in run["argv"])  # type: ignore[attr-defined]
        assert run["env"]["KYUUBI_ENGINE_SECRET"] == secret.decode()  # type: ignore[index]


def test_denied_keys_never_reach_the_command_line(fake_gateway: GatewayUnderTest) -> None:
    before = len(fake_gateway.submit.runs())
    for key in ("spark.jars", "driver.extraJavaOptions", "set:hiveconf:spark.executorEnv.X"):
        with pytest.raises(OperationalError, match="cannot be set by a client"):
            fake_gateway.connect("leo", configuration={key: "/tmp/evil"})
    assert len(fake_gateway.submit.runs()) == before
    connection = fake_gateway.connect(
        "leo", configuration={"spark.executor.memory": "1g;$(id)", "set:hivevar:v": "1"}
    )
    try:
        assert scalar(connection, "conf spark.executor.memory") == "1g;$(id)"
        assert scalar(connection, "conf set:hivevar:v") == "1"
    finally:
        connection.close()
    argv: list[str] = fake_gateway.submit.runs()[-1]["argv"]  # type: ignore[assignment]
    assert "spark.executor.memory=1g;$(id)" in argv
    assert not any("/tmp/evil" in a for a in argv)


def test_deleting_the_gateway_node_decommissions_it(start_gateway: StartGateway) -> None:
    gateway = start_gateway("gw_decommission")
    server = gateway.server
    assert server.registration is not None and server.discovery is not None
    connection = gateway.connect("alice")
    server.discovery.delete(server.registration.path)
    wait_until(server.decommissioned.is_set, 10, "the gateway to notice")
    assert not server.drained  # alice's session is still open and still works
    assert scalar(connection, "whoami") == "alice"
    connection.close()
    wait_until(lambda: server.drained, 10, "the last session to close")
