"""The server under test of the conformance suite.

``KYUUBI_PY_CONFORMANCE_TARGET`` (a comma-separated list) picks the servers; every test runs
once per server:

- ``engine``: our Spark SQL engine (the ``engine`` fixture of ``tests/support/fixtures.py``);
- ``gateway``: the same suite, unchanged, through our gateway (``shared_gateway``: one real
  engine behind it for every user);
- ``sts``: Spark Thrift Server from the pyspark wheel (the reference), started by ``sts`` below.

The default is ``engine,gateway``. ``KYUUBI_PY_CONFORMANCE_ADDRESS=host:port`` points the suite at
a server that is already running (of the single kind named by the target) instead of starting one.

Behaviours that the conformance checklist (hs2-protocol.md §5) requires of kyuubi_py but that STS
lacks are *capabilities*: a test needing one is marked ``@pytest.mark.target_has("<name>")`` and is
deselected (not skipped) for a target without it. ``KYUUBI_PY_CONFORMANCE_IGNORE_CAPABILITIES=1``
runs them anyway, to see them fail against STS.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clients import SPARK_HOME, HS2Target, wait_for_port

from kyuubi_py.protocol.tcli import V10, V11

TARGET_ENV = "KYUUBI_PY_CONFORMANCE_TARGET"
IGNORE_CAPABILITIES_ENV = "KYUUBI_PY_CONFORMANCE_IGNORE_CAPABILITIES"
ADDRESS_ENV = "KYUUBI_PY_CONFORMANCE_ADDRESS"

#: Checklist behaviours STS does not have (hs2-protocol.md §5 item numbers in brackets).
CAPABILITIES: dict[str, str] = {
    "nosasl": "NOSASL clients served on the SASL port [3]",
    "unknown_protocol_versions": "OpenSession with a version above V11 (0xA501) answers V10 [11]",
    "getinfo_all": "GetInfo answers every TGetInfoType with SUCCESS and a value [16]",
    "no_timedout_below_v10": "a query timeout reaches sessions below V10 as ERROR_STATE [19]",
    "schema_while_running": "GetResultSetMetadata of a running op is its real schema [22]",
    "status_has_result_set": "GetOperationStatus sets hasResultSet [21]",
    "empty_batches_keep_columns": "a batch without rows still has one TColumn per column [27]",
    "intervals_below_v8_as_string": "INTERVAL columns reach V6 sessions (impyla) as STRING [32]",
    "table_name_first": "pyhive's SHOW TABLES yields the table name in column 0 [40, 43]",
    "has_table_false": "DESCRIBE of a missing table errors the way pyhive's has_table expects [41]",
    "bad_input": "raw-socket bad input closes one connection only (reliability.md §4.1)",
}


@dataclass(frozen=True)
class TargetKind:
    fixture: str
    max_protocol: int
    capabilities: frozenset[str]


TARGETS: dict[str, TargetKind] = {
    "engine": TargetKind("engine", V10, frozenset(CAPABILITIES)),
    "gateway": TargetKind("shared_gateway", V10, frozenset(CAPABILITIES)),
    # STS 4.3.0 is built on hive-service-rpc 4.0.0: it negotiates up to V11.
    "sts": TargetKind("sts", V11, frozenset()),
}


DEFAULT_TARGETS = "engine,gateway"


def selected_targets() -> list[str]:
    names = [n.strip() for n in os.environ.get(TARGET_ENV, DEFAULT_TARGETS).split(",")]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise pytest.UsageError(f"{TARGET_ENV}: expected names from {sorted(TARGETS)}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hs2_target" in metafunc.fixturenames:
        metafunc.parametrize("hs2_target", selected_targets(), indirect=True, scope="session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "target_has(*capabilities): run only against conformance targets having all of them "
        "(see tests/conformance/conftest.py)",
    )


def _target_of(item: pytest.Item) -> TargetKind | None:
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("hs2_target") if callspec is not None else None
    return TARGETS[name] if name is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ignore = os.environ.get(IGNORE_CAPABILITIES_ENV) == "1"
    keep: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        needed = {c for mark in item.iter_markers("target_has") for c in mark.args}
        unknown = needed - CAPABILITIES.keys()
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown capabilities {sorted(unknown)}")
        kind = _target_of(item)
        if ignore or kind is None or needed <= kind.capabilities:
            keep.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


@pytest.fixture(scope="session")
def hs2_target(request: pytest.FixtureRequest) -> HS2Target:
    """The HiveServer2 endpoint the conformance tests talk to (see the module docstring)."""
    name: str = request.param
    kind = TARGETS[name]
    address = os.environ.get(ADDRESS_ENV)
    if address:
        host, _, port = address.rpartition(":")
        return HS2Target(name, host, int(port), kind.max_protocol, kind.capabilities)
    server = request.getfixturevalue(kind.fixture)
    return HS2Target(name, server.host, server.port, kind.max_protocol, kind.capabilities)


# --------------------------------------------------------------------------------------------------
# Spark Thrift Server, the reference


@dataclass(frozen=True)
class ThriftServer:
    host: str
    port: int
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def sts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThriftServer]:
    """Spark Thrift Server 4.3.0 from the pyspark wheel: local[2], SASL PLAIN (auth NONE) on
    127.0.0.1, a throw-away warehouse and Derby metastore. Its log is ``sts.log`` in its dir."""
    home = tmp_path_factory.mktemp("sts")
    port = _free_port()
    cmd = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.sql.warehouse.dir={home / 'warehouse'}",
        "--conf",
        "spark.driver.bindAddress=127.0.0.1",
        "--driver-java-options",
        f"-Dderby.system.home={home}",
        "--hiveconf",
        f"hive.server2.thrift.port={port}",
        "--hiveconf",
        "hive.server2.thrift.bind.host=127.0.0.1",
        "spark-internal",
    ]
    log = home / "sts.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, SPARK_HOME=str(SPARK_HOME)),
            start_new_session=True,
        )
    try:
        try:
            wait_for_port("127.0.0.1", port, timeout_s=180, alive=lambda: proc.poll() is None)
        except (TimeoutError, RuntimeError) as exc:
            tail = log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"Spark Thrift Server did not start: {exc}\n{tail}") from exc
        yield ThriftServer("127.0.0.1", port, log)
    finally:
        _stop_process_group(proc)


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
