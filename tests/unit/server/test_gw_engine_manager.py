"""Get-or-create against in-memory discovery and fake processes (S7-S10, P4)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from gw_fakes import FakeDiscovery, FakeProcess

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import EngineLaunchError
from kyuubi_py.ha.client import ServiceNodeInfo
from kyuubi_py.server.engine_manager import (
    EngineManager,
    EngineUnavailableError,
    StaleEngineError,
    launch_failure_message,
)
from kyuubi_py.server.engine_ref import EngineRef
from kyuubi_py.server.launcher import EngineLaunchCommand, LaunchLimiter

pytestmark = pytest.mark.timeout(30)
SECRET = "the-engine-secret"


def make_ref(user: str = "alice", ref_id: str = "r1", level: str = "USER") -> EngineRef:
    sub = ref_id if level == "CONNECTION" else "default"
    return EngineRef("kyuubi", "0.1.0", level, user, user, sub, ref_id)


class Harness:
    def __init__(self, tmp_path: Path, limit: int = 2, **behaviour: Any) -> None:
        self.discovery = FakeDiscovery()
        self.behaviour = behaviour
        self.spawned: list[FakeProcess] = []
        self.conf = KyuubiConf(
            {
                "kyuubi.session.engine.initialize.timeout": "PT2S",
                "kyuubi.session.engine.log.dir": str(tmp_path),
                "kyuubi.engine.spark.submit": "/bin/false",
            }
        )
        self.manager = EngineManager(
            self.conf,
            self.discovery,  # type: ignore[arg-type]
            SECRET,
            "127.0.0.1:2181",
            limiter=LaunchLimiter(limit),
            spawn=self.spawn,  # type: ignore[arg-type]
            poll_interval_s=0.01,
            registration_poll_s=0.01,
        )

    def spawn(self, command: EngineLaunchCommand) -> FakeProcess:
        space = make_ref().space
        for arg in command.argv:
            if arg.startswith("kyuubi.engine.user="):
                user = arg.partition("=")[2]
                space = space.replace("/alice/", f"/{user}/")
        process = FakeProcess(command, self.discovery, space, **self.behaviour)
        self.spawned.append(process)
        return process


def test_launches_once_then_reuses(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    ref = make_ref()
    first = harness.manager.get_or_create(ref, harness.conf)
    assert first.ref_id == "r1"
    second = harness.manager.get_or_create(make_ref(ref_id="r2"), harness.conf)
    assert second.path == first.path
    assert len(harness.spawned) == 1
    assert harness.discovery.locks_taken == [ref.lock_path]
    assert harness.spawned[0].log_path == tmp_path / f"{ref.app_name}.log"
    assert SECRET not in " ".join(harness.spawned[0].command.argv)


def test_concurrent_first_opens_spawn_one_engine(tmp_path: Path) -> None:
    harness = Harness(tmp_path, register_after=5)
    results: list[ServiceNodeInfo] = []
    barrier = threading.Barrier(20)

    def open_one(i: int) -> None:
        barrier.wait()
        results.append(harness.manager.get_or_create(make_ref(ref_id=f"r{i}"), harness.conf))

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(harness.spawned) == 1
    assert len({node.path for node in results}) == 1


def test_exit_before_registering_quotes_the_log(tmp_path: Path) -> None:
    lines = tuple(f"line {i}" for i in range(30)) + (f"token={SECRET}", "Exception: boom")
    harness = Harness(tmp_path, register_after=None, exit_code=1, log_lines=lines)
    with pytest.raises(EngineLaunchError) as info:
        harness.manager.get_or_create(make_ref(), harness.conf)
    message = info.value.message
    assert "spark-submit exited with code 1" in message
    assert message.endswith("Exception: boom")
    assert "Last 10 lines" in message and "line 21" not in message and "line 22" in message
    assert SECRET not in message
    # the lock and the permit are free again: the next open relaunches
    harness.behaviour.update(register_after=1, exit_code=None)
    assert harness.manager.get_or_create(make_ref(ref_id="r2"), harness.conf).ref_id == "r2"
    assert len(harness.spawned) == 2


def test_never_registering_times_out_and_kills(tmp_path: Path) -> None:
    harness = Harness(tmp_path, register_after=None)
    with pytest.raises(EngineLaunchError, match="kyuubi.session.engine.initialize.timeout"):
        harness.manager.get_or_create(make_ref(), harness.conf)
    assert harness.spawned[0].killed


def test_launch_permits_cap_concurrent_launches(tmp_path: Path) -> None:
    harness = Harness(tmp_path, limit=1, register_after=20)
    results: list[str] = []

    def open_user(user: str) -> None:
        results.append(
            harness.manager.get_or_create(make_ref(user, f"ref-{user}"), harness.conf).ref_id
        )

    threads = [threading.Thread(target=open_user, args=(u,)) for u in ("u1", "u2", "u3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ref-u1", "ref-u2", "ref-u3"]
    assert len(harness.spawned) == 3


def test_open_replaces_a_stale_engine(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    ref = make_ref()
    stale = harness.discovery.add_engine(ref.space, "127.0.0.1", 1, "dead-engine")
    attempts: list[int] = []

    def connect(node: ServiceNodeInfo) -> str:
        attempts.append(node.port)
        if node.port == 1:
            raise StaleEngineError("connection refused")
        return node.ref_id or ""

    assert harness.manager.open(ref, harness.conf, connect) == "r1"
    assert attempts == [1, 40000]
    assert stale in harness.discovery.deleted
    assert len(harness.spawned) == 1


def test_open_gives_up_after_max_attempts(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.conf.set("kyuubi.session.engine.open.max.attempts", "2")

    def refuse(node: ServiceNodeInfo) -> str:
        raise StaleEngineError("connection refused")

    with pytest.raises(StaleEngineError):
        harness.manager.open(make_ref(), harness.conf, refuse)
    assert len(harness.discovery.deleted) == 2


def test_connection_level_takes_no_lock(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    ref = make_ref(ref_id="c1", level="CONNECTION")
    harness.spawn = lambda command: _spawn_in(harness, command, ref.space)  # type: ignore[method-assign]
    harness.manager._spawn = harness.spawn  # type: ignore[assignment]
    assert harness.manager.get_or_create(ref, harness.conf).ref_id == "c1"
    assert harness.discovery.locks_taken == []


def _spawn_in(harness: Harness, command: EngineLaunchCommand, space: str) -> FakeProcess:
    process = FakeProcess(command, harness.discovery, space)
    harness.spawned.append(process)
    return process


def test_stop_launched_kills_running_engines(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.manager.get_or_create(make_ref(), harness.conf)
    harness.manager.stop_launched()
    assert harness.spawned[0].killed


def test_failure_message_is_capped_from_the_front() -> None:
    lines = ["x" * 100] * 5 + ["Exception: boom"]
    message = launch_failure_message("app", "it failed", lines, Path("/l/app.log"), 120)
    assert message.startswith("Failed to launch engine app: it failed. Last 6 lines")
    assert message.endswith("Exception: boom")
    assert "\n..." in message
    assert len(message) < 250
    assert "is empty" in launch_failure_message("app", "x", [], None, 10)


def test_open_retries_an_unavailable_engine_without_deleting_it(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    calls: list[str] = []

    def flaky(node: ServiceNodeInfo) -> str:
        calls.append(node.path)
        if len(calls) == 1:
            raise EngineUnavailableError("reset during the handshake")
        return node.ref_id or ""

    assert harness.manager.open(make_ref(), harness.conf, flaky) == "r1"
    assert calls[0] == calls[1]
    assert harness.discovery.deleted == []


def test_remembers_the_engine_until_its_node_is_deleted(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    ref = make_ref()
    node = harness.discovery.add_engine(ref.space, "127.0.0.1", 7, "e1")
    lookups: list[str] = []
    list_nodes = harness.discovery.get_service_nodes

    def counting(space: str) -> list[ServiceNodeInfo]:
        lookups.append(space)
        return list_nodes(space)

    harness.discovery.get_service_nodes = counting  # type: ignore[method-assign]
    assert harness.manager.get_or_create(ref, harness.conf).path == node
    assert harness.manager.get_or_create(ref, harness.conf).path == node
    assert lookups == [ref.space]  # the second session reads no ZooKeeper
    harness.discovery.delete(node)
    newer = harness.discovery.add_engine(ref.space, "127.0.0.1", 8, "e2")
    assert harness.manager.get_or_create(ref, harness.conf).path == newer


def test_a_failed_connection_forgets_the_remembered_engine(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    ref = make_ref()
    harness.discovery.add_engine(ref.space, "127.0.0.1", 1, "dead-engine")
    assert harness.manager.get_or_create(ref, harness.conf).port == 1

    def connect(node: ServiceNodeInfo) -> int:
        if node.port == 1:
            raise EngineUnavailableError("reset")
        return node.port

    harness.discovery.add_engine(ref.space, "127.0.0.1", 2, "live-engine")
    assert harness.manager.open(ref, harness.conf, connect) == 2
