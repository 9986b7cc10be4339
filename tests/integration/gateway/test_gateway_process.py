"""``kyuubi-py server`` as a process: embedded ZooKeeper, registration, SIGTERM stops everything it
started (its engines too: without the embedded ZooKeeper nobody could find them again)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from pyhive import hive
from support.gateway_support import install_submit, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" not in status.read()
    except FileNotFoundError:
        return False


def test_server_process_with_embedded_zookeeper(tmp_path: Path) -> None:
    submit = install_submit(tmp_path / "submit", "fake")
    zk_port, port = free_port(), free_port()
    settings = {
        "kyuubi.zookeeper.embedded.client.port": str(zk_port),
        "kyuubi.zookeeper.embedded.data.dir": str(tmp_path / "zk"),
        "kyuubi.frontend.thrift.binary.bind.port": str(port),
        "kyuubi.engine.spark.submit": str(submit.path),
        "kyuubi.session.engine.log.dir": str(tmp_path / "logs"),
        "kyuubi.engine.work.dir.root": str(tmp_path / "work"),
    }
    command = [sys.executable, "-m", "kyuubi_py.cli", "server"]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if k != "KYUUBI_ENGINE_SECRET"}
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as log:
        server = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: (
                f"gateway listening on 127.0.0.1:{port}" in log_file.read_text()
                or server.poll() is not None
            ),
            60,
            "the gateway to listen",
        )
        assert server.poll() is None, log_file.read_text()
        zk = KazooClient(hosts=f"127.0.0.1:{zk_port}")
        zk.start(timeout=10)
        try:
            children = zk.get_children("/kyuubi")
            assert len(children) == 1 and children[0].startswith(
                f"serverUri=127.0.0.1:{port};version="
            )
            assert zk.get(f"/kyuubi/{children[0]}")[0] == f"127.0.0.1:{port}".encode()
        finally:
            zk.stop()
            zk.close()
        connection = hive.connect("127.0.0.1", port=port, username="alice", auth="NONE")
        cursor = connection.cursor()
        cursor.execute("engine")
        engine_pid = int(cursor.fetchall()[0][0].split()[1])
        connection.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0, log_file.read_text()
        wait_until(lambda: not alive(engine_pid), 10, "the engine to stop with the gateway")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
