"""Helpers of the gateway integration tests: a gateway in-process, pyhive shortcuts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyhive import hive
from support.fake_submit import FakeSubmit, install

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.server.conf import default_spark_submit
from kyuubi_py.server.launcher import engine_main_file
from kyuubi_py.server.main import KyuubiServer


@dataclass
class GatewayUnderTest:
    server: KyuubiServer
    namespace: str
    zookeeper: str
    submit: FakeSubmit
    conf: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def connect(self, user: str = "alice", **kwargs: Any) -> hive.Connection:
        kwargs.setdefault("auth", "NONE")
        return hive.connect(self.host, port=self.port, username=user, **kwargs)

    def stop(self, kill_engines: bool = True) -> None:
        if kill_engines and self.server.engines is not None:
            self.server.engines.stop_launched()
        self.server.stop()


def query(connection: hive.Connection, sql: str) -> list[tuple[Any, ...]]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def scalar(connection: hive.Connection, sql: str) -> Any:
    rows = query(connection, sql)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def base_settings(work: Path, zookeeper: str, namespace: str, submit: FakeSubmit) -> dict[str, str]:
    return {
        "kyuubi.ha.addresses": zookeeper,
        "kyuubi.ha.namespace": namespace,
        "kyuubi.ha.zookeeper.session.timeout": "PT10S",
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        # Pauses between calls resume idle connections on new threads (see engine_process).
        "kyuubi.frontend.thrift.worker.keepalive.time": "PT0.2S",
        "kyuubi.engine.spark.submit": str(submit.path),
        "kyuubi.session.engine.log.dir": str(work / "engine_logs"),
        "kyuubi.engine.work.dir.root": str(work / "engine_work"),
        "kyuubi.session.engine.initialize.timeout": "PT3M",
        "kyuubi.session.engine.idle.timeout": "PT5M",
        "kyuubi.session.engine.check.interval": "PT1S",
        "spark.master": "local[1]",
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.warehouse.dir": str(work / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={work / 'derby'}",
    }


def start(
    settings: dict[str, str], namespace: str, zookeeper: str, submit: FakeSubmit
) -> GatewayUnderTest:
    server = KyuubiServer()
    server.initialize(KyuubiConf(settings))
    server.start()
    return GatewayUnderTest(server, namespace, zookeeper, submit, settings)


def install_submit(directory: Path, default_mode: str) -> FakeSubmit:
    return install(
        directory,
        default_mode=default_mode,
        real_submit=default_spark_submit(),
        main_file=engine_main_file(),
    )


#: ``start_gateway(namespace, mode="fake", submit=None, **settings)``, see conftest.py.
StartGateway = Callable[..., GatewayUnderTest]
